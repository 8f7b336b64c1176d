/// The rule that splits text into words before BPE merges run inside each word.
///
/// Both rules follow llama.cpp's pre-tokenizers of the same names
/// (`src/llama-vocab.cpp`), which in turn follow the Hugging Face tokenizers of
/// those models. They are written by hand over Unicode scalars: no regular
/// expression engine runs.
enum PreTokenizer: Sendable, Equatable {
    /// GPT-2's pattern:
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// GPT-2's pattern after every number scalar (`\p{N}`) has been split off as
    /// a word of its own, so "2026" becomes four words and a space before a digit
    /// stays a word by itself. StarCoder's and SmolLM's tokenizers work this way.
    case gpt2SingleDigits

    /// Maps a `tokenizer.ggml.pre` name to its rule, or returns nil for a name this type does not implement.
    ///
    /// A missing name (older GGUF files) selects plain GPT-2 splitting.
    init?(name: String?) {
        guard let name else {
            // NOTE: llama.cpp's fallback for files without `tokenizer.ggml.pre` also
            // splits some punctuation and digit groups; plain GPT-2 is an approximation.
            self = .gpt2
            return
        }
        if Self.gpt2Names.contains(name) {
            self = .gpt2
        } else if Self.singleDigitNames.contains(name) {
            self = .gpt2SingleDigits
        } else {
            return nil
        }
    }

    static let gpt2Names: Set<String> = ["default", "gpt2", "gpt-2", "mpt", "olmo", "jais"]
    static let singleDigitNames: Set<String> = [
        "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b",
    ]

    /// All names `init(name:)` accepts, sorted, for error messages.
    static var supportedNames: [String] {
        (gpt2Names.union(singleDigitNames)).sorted()
    }

    /// Appends the end index (exclusive, in scalars) of each word of `scalars` to `wordEnds`.
    ///
    /// Words cover the scalars without gaps, so word `k` spans from the end of
    /// word `k - 1` (or 0) to `wordEnds[k]`.
    func split(_ scalars: ScalarBuffer, wordEnds: inout [Int]) {
        switch self {
        case .gpt2:
            Self.splitGPT2(scalars, from: 0, to: scalars.count, wordEnds: &wordEnds)

        case .gpt2SingleDigits:
            var start = 0
            for index in 0..<scalars.count where scalars.scalars[index].scalarClass == .number {
                Self.splitGPT2(scalars, from: start, to: index, wordEnds: &wordEnds)
                wordEnds.append(index + 1)
                start = index + 1
            }
            Self.splitGPT2(scalars, from: start, to: scalars.count, wordEnds: &wordEnds)
        }
    }

    /// Splits `start..<end` with GPT-2's pattern.
    ///
    /// The pattern sees only this range, as the regular expression would when
    /// run on the range alone: the look-ahead in `\s+(?!\S)` treats `end` as the
    /// end of the text.
    private static func splitGPT2(_ scalars: ScalarBuffer, from start: Int, to end: Int, wordEnds: inout [Int]) {
        let scalars = scalars.scalars
        var position = start

        while position < end {
            let value = scalars[position].value

            // 's 't 're 've 'm 'll 'd, lowercase only, as in GPT-2.
            if value == apostrophe, position + 1 < end {
                let second = scalars[position + 1].value
                if second == 0x73 || second == 0x74 || second == 0x6D || second == 0x64 {  // s t m d
                    position += 2
                    wordEnds.append(position)
                    continue
                }
                if position + 2 < end {
                    let third = scalars[position + 2].value
                    let isContraction =
                        (second == 0x72 && third == 0x65)  // re
                        || (second == 0x76 && third == 0x65)  // ve
                        || (second == 0x6C && third == 0x6C)  // ll
                    if isContraction {
                        position += 3
                        wordEnds.append(position)
                        continue
                    }
                }
            }

            // An optional leading space (U+0020 only) joins the run of letters,
            // numbers or other symbols that follows it.
            let runStart = value == space && position + 1 < end ? position + 1 : position
            let runClass: ScalarClass? =
                value == space && position + 1 >= end ? nil : scalars[runStart].scalarClass

            if let runClass, runClass != .whitespace {
                var runEnd = runStart + 1
                while runEnd < end && scalars[runEnd].scalarClass == runClass {
                    runEnd += 1
                }
                position = runEnd
                wordEnds.append(position)
                continue
            }

            // Whitespace: `\s+(?!\S)` leaves the last whitespace scalar of a run
            // that a non-space follows to start the next word; `\s+` takes the rest.
            var whitespaceEnd = position
            while whitespaceEnd < end && scalars[whitespaceEnd].scalarClass == .whitespace {
                whitespaceEnd += 1
            }
            let runLength = whitespaceEnd - position
            if runLength > 1 && whitespaceEnd < end {
                position = whitespaceEnd - 1
            } else if runLength > 0 {
                position = whitespaceEnd
            } else {
                position += 1
            }
            wordEnds.append(position)
        }
    }

    private static let apostrophe: UInt32 = 0x27
    private static let space: UInt32 = 0x20
}

/// The class of a Unicode scalar as GPT-2's pattern sees it.
enum ScalarClass: UInt8, Sendable {
    /// `\p{L}`: general categories Lu, Ll, Lt, Lm, Lo.
    case letter
    /// `\p{N}`: general categories Nd, Nl, No.
    case number
    /// `\s`: the Unicode White_Space property.
    case whitespace
    /// Anything else: punctuation, symbols, marks, controls, unassigned scalars.
    case other

    init(_ value: UInt32) {
        if value < 0x80 {
            self = Self.asciiClasses[Int(value)]
            return
        }
        // `value` comes from decoding valid UTF-8, so it is a valid scalar.
        let properties = Unicode.Scalar(value)!.properties
        if properties.isWhitespace {
            self = .whitespace
            return
        }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            self = .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            self = .number
        default:
            self = .other
        }
    }

    private static let asciiClasses: [ScalarClass] = (0..<0x80).map { value -> ScalarClass in
        switch value {
        case 0x41...0x5A, 0x61...0x7A: return .letter
        case 0x30...0x39: return .number
        case 0x09...0x0D, 0x20: return .whitespace
        default: return .other
        }
    }
}

/// The Unicode scalars of one piece of text, with their classes and UTF-8 offsets.
///
/// One buffer is reused for every piece of a text, so that encoding allocates
/// only when a piece is longer than any before it.
struct ScalarBuffer {
    struct Scalar {
        var value: UInt32
        var scalarClass: ScalarClass
        /// The offset of the scalar's first byte in the source bytes.
        var byteOffset: Int
    }

    private(set) var scalars: [Scalar] = []
    /// The offset just past the last byte of the piece in the source bytes.
    private(set) var endOffset = 0

    var count: Int { scalars.count }

    /// Returns the UTF-8 offset in the source bytes where scalar `index` starts, or the end offset for `count`.
    func byteOffset(_ index: Int) -> Int {
        index < scalars.count ? scalars[index].byteOffset : endOffset
    }

    /// Replaces the contents with the scalars of `bytes[range]`, which must be valid UTF-8.
    mutating func load(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        scalars.removeAll(keepingCapacity: true)
        scalars.reserveCapacity(range.count)
        endOffset = range.upperBound

        var index = range.lowerBound
        while index < range.upperBound {
            let lead = bytes[index]
            let value: UInt32
            let length: Int
            if lead < 0x80 {
                value = UInt32(lead)
                length = 1
            } else if lead < 0xE0 {
                value = UInt32(lead & 0x1F) << 6 | UInt32(bytes[index + 1] & 0x3F)
                length = 2
            } else if lead < 0xF0 {
                value = UInt32(lead & 0x0F) << 12 | UInt32(bytes[index + 1] & 0x3F) << 6
                    | UInt32(bytes[index + 2] & 0x3F)
                length = 3
            } else {
                value = UInt32(lead & 0x07) << 18 | UInt32(bytes[index + 1] & 0x3F) << 12
                    | UInt32(bytes[index + 2] & 0x3F) << 6 | UInt32(bytes[index + 3] & 0x3F)
                length = 4
            }
            scalars.append(Scalar(value: value, scalarClass: ScalarClass(value), byteOffset: index))
            index += length
        }
    }
}
