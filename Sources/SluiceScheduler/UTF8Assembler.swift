/// Turns token bytes into text that never splits a UTF-8 character.
///
/// Bytes of a character that is not complete yet wait for the token that
/// completes it. A character is released as soon as its last byte arrives. Invalid byte sequences become U+FFFD, as `String(decoding:as:)`
/// replaces them.
struct UTF8Assembler {
    /// Bytes of an incomplete, so far valid, character at the end of the input.
    private var pending: [UInt8] = []

    /// Appends `bytes` and returns the UTF-8 bytes of every character now complete.
    mutating func append(_ bytes: [UInt8]) -> [UInt8] {
        if pending.isEmpty, Self.incompleteSuffixLength(bytes) == 0, Self.isValid(bytes) {
            return bytes
        }
        var input = pending
        input.append(contentsOf: bytes)
        let held = Self.incompleteSuffixLength(input)
        pending = Array(input[(input.count - held)...])
        input.removeLast(held)
        return Self.isValid(input) ? input : Array(String(decoding: input, as: UTF8.self).utf8)
    }

    /// Returns what is left at the end of a sequence: an incomplete character becomes U+FFFD.
    mutating func flush() -> [UInt8] {
        defer { pending = [] }
        return pending.isEmpty ? [] : Array(String(decoding: pending, as: UTF8.self).utf8)
    }

    static func isValid(_ bytes: [UInt8]) -> Bool {
        if bytes.allSatisfy({ $0 < 0x80 }) { return true }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// Returns the length of a trailing character prefix that is valid so far but not complete, or 0.
    static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        let count = bytes.count
        // A UTF-8 character has at most 4 bytes, so an incomplete one starts in the last 3.
        for length in 1...min(3, max(count, 1)) where length <= count {
            let lead = bytes[count - length]
            if lead & 0xC0 == 0x80 { continue }  // A continuation byte; look further back.
            let expected: Int
            switch lead {
            case 0xC2...0xDF: expected = 2
            case 0xE0...0xEF: expected = 3
            case 0xF0...0xF4: expected = 4
            default: return 0
            }
            guard expected > length else { return 0 }
            if length >= 2 && !isValidSecondByte(lead: lead, bytes[count - length + 1]) { return 0 }
            return length
        }
        return 0
    }

    /// Checks the byte after a lead byte against the ranges RFC 3629 allows (no overlong forms, no surrogates, at most U+10FFFF).
    private static func isValidSecondByte(lead: UInt8, _ byte: UInt8) -> Bool {
        switch lead {
        case 0xE0: return (0xA0...0xBF).contains(byte)
        case 0xED: return (0x80...0x9F).contains(byte)
        case 0xF0: return (0x90...0xBF).contains(byte)
        case 0xF4: return (0x80...0x8F).contains(byte)
        default: return (0x80...0xBF).contains(byte)
        }
    }
}

/// Holds back text that could still begin a stop sequence and finds the first match.
///
/// Works on UTF-8 bytes of valid text. Because UTF-8 is self-synchronizing, a
/// match of a valid stop string always starts on a character boundary, and so
/// does every held-back suffix.
struct StopSequenceMatcher {
    private let stops: [[UInt8]]
    private var held: [UInt8] = []

    init(stopSequences: [String]) {
        stops = stopSequences.filter { !$0.isEmpty }.map { Array($0.utf8) }
    }

    var isActive: Bool { !stops.isEmpty }

    enum Outcome: Equatable {
        /// Text safe to send now; more may follow.
        case text([UInt8])
        /// A stop sequence matched: send this text (before the stop) and end the sequence.
        case stopped([UInt8])
    }

    /// Appends complete text and returns what may be sent.
    mutating func append(_ text: [UInt8]) -> Outcome {
        guard isActive else { return .text(text) }
        held.append(contentsOf: text)

        if let matchStart = firstMatchStart() {
            let before = Array(held[..<matchStart])
            held = []
            return .stopped(before)
        }

        let keep = longestSuffixThatBeginsAStop()
        let releasable = Array(held[..<(held.count - keep)])
        held.removeFirst(held.count - keep)
        return .text(releasable)
    }

    /// Returns the held text at the end of a sequence; it never completed a stop sequence.
    mutating func flush() -> [UInt8] {
        defer { held = [] }
        return held
    }

    private func firstMatchStart() -> Int? {
        var best: Int?
        for stop in stops where stop.count <= held.count {
            var start = 0
            while start + stop.count <= held.count {
                if held[start] == stop[0] && held[start..<(start + stop.count)].elementsEqual(stop) {
                    if best == nil || start < best! { best = start }
                    break
                }
                start += 1
            }
        }
        return best
    }

    private func longestSuffixThatBeginsAStop() -> Int {
        var longest = 0
        for stop in stops {
            let maxLength = min(stop.count - 1, held.count)
            guard maxLength > longest else { continue }
            for length in stride(from: maxLength, to: longest, by: -1)
            where held[(held.count - length)...].elementsEqual(stop[..<length]) {
                longest = length
                break
            }
        }
        return longest
    }
}
