/// The storage type of a tensor, with ggml's numbering as used in GGUF files.
///
/// Any raw value can be represented, so a file with a type this build does
/// not know still parses far enough to name the type in an error.
public struct GGMLType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    public static let f32 = GGMLType(rawValue: 0)
    public static let f16 = GGMLType(rawValue: 1)
    public static let q4_0 = GGMLType(rawValue: 2)
    public static let q4_1 = GGMLType(rawValue: 3)
    public static let q5_0 = GGMLType(rawValue: 6)
    public static let q5_1 = GGMLType(rawValue: 7)
    public static let q8_0 = GGMLType(rawValue: 8)
    public static let q8_1 = GGMLType(rawValue: 9)
    public static let q2_K = GGMLType(rawValue: 10)
    public static let q3_K = GGMLType(rawValue: 11)
    public static let q4_K = GGMLType(rawValue: 12)
    public static let q5_K = GGMLType(rawValue: 13)
    public static let q6_K = GGMLType(rawValue: 14)
    public static let q8_K = GGMLType(rawValue: 15)
    public static let iq2_xxs = GGMLType(rawValue: 16)
    public static let iq2_xs = GGMLType(rawValue: 17)
    public static let iq3_xxs = GGMLType(rawValue: 18)
    public static let iq1_s = GGMLType(rawValue: 19)
    public static let iq4_nl = GGMLType(rawValue: 20)
    public static let iq3_s = GGMLType(rawValue: 21)
    public static let iq2_s = GGMLType(rawValue: 22)
    public static let iq4_xs = GGMLType(rawValue: 23)
    public static let i8 = GGMLType(rawValue: 24)
    public static let i16 = GGMLType(rawValue: 25)
    public static let i32 = GGMLType(rawValue: 26)
    public static let i64 = GGMLType(rawValue: 27)
    public static let f64 = GGMLType(rawValue: 28)
    public static let iq1_m = GGMLType(rawValue: 29)
    public static let bf16 = GGMLType(rawValue: 30)
    public static let tq1_0 = GGMLType(rawValue: 34)
    public static let tq2_0 = GGMLType(rawValue: 35)

    /// Name, elements per block and bytes per block of each known type.
    private static let layouts: [UInt32: (name: String, blockSize: Int, blockBytes: Int)] = [
        0: ("F32", 1, 4),
        1: ("F16", 1, 2),
        2: ("Q4_0", 32, 18),
        3: ("Q4_1", 32, 20),
        6: ("Q5_0", 32, 22),
        7: ("Q5_1", 32, 24),
        8: ("Q8_0", 32, 34),
        9: ("Q8_1", 32, 36),
        10: ("Q2_K", 256, 84),
        11: ("Q3_K", 256, 110),
        12: ("Q4_K", 256, 144),
        13: ("Q5_K", 256, 176),
        14: ("Q6_K", 256, 210),
        15: ("Q8_K", 256, 292),
        16: ("IQ2_XXS", 256, 66),
        17: ("IQ2_XS", 256, 74),
        18: ("IQ3_XXS", 256, 98),
        19: ("IQ1_S", 256, 50),
        20: ("IQ4_NL", 32, 18),
        21: ("IQ3_S", 256, 110),
        22: ("IQ2_S", 256, 82),
        23: ("IQ4_XS", 256, 136),
        24: ("I8", 1, 1),
        25: ("I16", 1, 2),
        26: ("I32", 1, 4),
        27: ("I64", 1, 8),
        28: ("F64", 1, 8),
        29: ("IQ1_M", 256, 56),
        30: ("BF16", 1, 2),
        34: ("TQ1_0", 256, 54),
        35: ("TQ2_0", 256, 66),
    ]

    /// Whether the type's block layout is in this build's table.
    public var isKnown: Bool { Self.layouts[rawValue] != nil }

    /// Elements per quantization block (1 for plain types), or nil for an unknown type.
    public var blockSize: Int? { Self.layouts[rawValue]?.blockSize }

    /// Bytes per quantization block, or nil for an unknown type.
    public var blockBytes: Int? { Self.layouts[rawValue]?.blockBytes }

    /// ggml's name for the type, such as `Q4_1`, or `type <n>` for an unknown one.
    public var description: String { Self.layouts[rawValue]?.name ?? "type \(rawValue)" }
}
