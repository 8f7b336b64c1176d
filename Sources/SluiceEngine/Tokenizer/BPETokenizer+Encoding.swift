extension BPETokenizer {
    /// Encodes text to token ids, without adding a BOS token.
    ///
    /// - Parameters:
    ///   - text: Any text. Every Unicode scalar survives a round trip through
    ///     `decode(_:)` unless the vocabulary lacks one of its bytes, which is
    ///     then dropped, as llama.cpp drops it. The SmolLM2 vocabulary, for one,
    ///     has no token for the control bytes 0x04, 0x06, 0x13, 0x14, 0x16 and
    ///     0x1D, nor for 0xF1 and 0xF2, which lead the scalars of planes 4 to 11.
    ///   - parseSpecialTokens: Whether the text of a control token such as
    ///     `<|im_start|>` becomes that token. When false, only user-defined
    ///     tokens are matched, and control-token text is encoded as plain text.
    /// - Returns: The token ids.
    public func encode(_ text: String, parseSpecialTokens: Bool = true) -> [Int32] {
        var text = text
        return text.withUTF8 { bytes in
            encode(bytes, parseSpecialTokens: parseSpecialTokens)
        }
    }

    private func encode(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecialTokens: Bool) -> [Int32] {
        var output: [Int32] = []
        output.reserveCapacity(bytes.count / 3 + 4)

        var scalars = ScalarBuffer()
        var wordEnds: [Int] = []
        let merger = BPEMerger(byteTokens: byteTokens, merges: merges)

        for fragment in partition(bytes, parseSpecialTokens: parseSpecialTokens) {
            switch fragment {
            case .special(let id):
                output.append(id)

            case .text(let range):
                scalars.load(bytes, range: range)
                wordEnds.removeAll(keepingCapacity: true)
                preTokenizer.split(scalars, wordEnds: &wordEnds)

                var wordStart = 0
                for wordEnd in wordEnds {
                    let byteRange = scalars.byteOffset(wordStart)..<scalars.byteOffset(wordEnd)
                    merger.encodeWord(bytes, range: byteRange, output: &output)
                    wordStart = wordEnd
                }
            }
        }
        return output
    }

    /// A piece of the input: raw text to pre-tokenize, or a special token found in it.
    enum Fragment: Equatable {
        case text(Range<Int>)
        case special(Int32)
    }

    /// Cuts the special tokens out of `bytes`.
    ///
    /// As in llama.cpp, each special token in turn, longest first, is searched
    /// for in the text fragments that earlier tokens left, left to right. So
    /// where two special tokens overlap in the text, the longer one wins.
    func partition(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecialTokens: Bool) -> [Fragment] {
        var fragments: [Fragment] = bytes.isEmpty ? [] : [.text(0..<bytes.count)]
        let mayContainSpecial = specialLeadBytes.withUnsafeBufferPointer { leadBytes in
            for byte in bytes where leadBytes[Int(byte)] {
                return true
            }
            return false
        }
        guard mayContainSpecial else {
            return fragments
        }

        for token in specialTokens {
            if !parseSpecialTokens && token.type != .userDefined {
                continue
            }
            var split: [Fragment] = []
            var found = false
            for fragment in fragments {
                guard case .text(let range) = fragment else {
                    split.append(fragment)
                    continue
                }
                var start = range.lowerBound
                while let match = Self.firstOccurrence(of: token.bytes, in: bytes, range: start..<range.upperBound) {
                    if match > start {
                        split.append(.text(start..<match))
                    }
                    split.append(.special(token.id))
                    start = match + token.bytes.count
                    found = true
                }
                if start < range.upperBound {
                    split.append(.text(start..<range.upperBound))
                }
            }
            if found {
                fragments = split
            }
        }
        return fragments
    }

    private static func firstOccurrence(
        of pattern: [UInt8],
        in bytes: UnsafeBufferPointer<UInt8>,
        range: Range<Int>
    ) -> Int? {
        guard range.count >= pattern.count else { return nil }
        let first = pattern[0]
        var index = range.lowerBound
        let lastStart = range.upperBound - pattern.count
        while index <= lastStart {
            if bytes[index] == first {
                var offset = 1
                while offset < pattern.count && bytes[index + offset] == pattern[offset] {
                    offset += 1
                }
                if offset == pattern.count {
                    return index
                }
            }
            index += 1
        }
        return nil
    }
}
