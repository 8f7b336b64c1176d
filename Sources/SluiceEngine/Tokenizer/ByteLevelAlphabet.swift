/// The byte-to-symbol table of byte-level BPE, as GPT-2 defined it.
///
/// Every byte gets a printable Unicode scalar so that vocabulary entries and
/// merge rules can be stored as text. Bytes that are already printable and
/// not whitespace (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) map to themselves. The other 68
/// bytes, in increasing order, map to U+0100, U+0101 and so on, which is why
/// a space appears as `Ġ` (U+0120) and a newline as `Ċ` (U+010A) in the vocabulary.
enum ByteLevelAlphabet {
    /// The symbol of each byte, indexed by the byte.
    static let symbols: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var nextShifted: UInt32 = 256
        for byte in 0..<256 {
            if isPrintable(UInt8(byte)) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(nextShifted)!
                nextShifted += 1
            }
        }
        return table
    }()

    /// The byte of each symbol, indexed by the symbol's scalar value; -1 where a scalar is no symbol.
    static let bytesBySymbol: [Int16] = {
        let largest = symbols.map(\.value).max()!
        var table = [Int16](repeating: -1, count: Int(largest) + 1)
        for (byte, symbol) in symbols.enumerated() {
            table[Int(symbol.value)] = Int16(byte)
        }
        return table
    }()

    /// Returns the byte a symbol stands for, or nil when the scalar is not in the alphabet.
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let index = Int(scalar.value)
        guard index < bytesBySymbol.count, bytesBySymbol[index] >= 0 else { return nil }
        return UInt8(bytesBySymbol[index])
    }

    /// Returns the vocabulary text of a byte sequence: each byte replaced by its symbol.
    static func text(of bytes: some Sequence<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes {
            scalars.append(symbols[Int(byte)])
        }
        return String(scalars)
    }

    private static func isPrintable(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }
}
