#if canImport(Glibc)
import Glibc
#endif

/// Counts the token events in a Server-Sent Events body as it arrives in pieces.
///
/// A token is an event with `data:` whose data is not `[DONE]` and does not
/// contain one of the empty values that OpenAI-style servers send in events
/// without token text. These are `"text":""` (a completion's finish event),
/// `"content":""`, `"content":null` and `"delta":{}` (chat role and finish
/// events) and `"choices":[]` (a usage-only event). Lines end in LF or CRLF,
/// and an event ends at a blank line, so an event that is still open when
/// the body ends is not counted.
struct SSETokenCounter: Sendable {
    /// Progress of one `feed`: token events and whether `data: [DONE]` arrived.
    struct Progress: Equatable, Sendable {
        var tokens = 0
        var sawDone = false
    }

    /// Maximum length of an SSE line, so that a server that never sends LF cannot exhaust memory.
    static let maxLineBytes = 1 << 20

    /// The start of a line that did not end in the previous feed.
    private var partialLine: [UInt8] = []
    /// Data lines of the event being read.
    private var eventDataLines = 0
    /// Whether a data line of the event being read contains one of the empty values.
    private var eventHasEmptyValue = false
    /// Whether a data line of the event being read is exactly `[DONE]`.
    private var eventHasDoneLine = false

    /// Forgets any partial line and event, keeping the buffer's capacity for the next body.
    mutating func reset() {
        partialLine.removeAll(keepingCapacity: true)
        eventDataLines = 0
        eventHasEmptyValue = false
        eventHasDoneLine = false
    }

    /// Reads the next piece of the body and adds the events it completes to `progress`.
    /// - Throws: `HTTPResponseError.sseLineTooLong` when a line passes `maxLineBytes`.
    mutating func feed(
        _ input: UnsafeRawBufferPointer, into progress: inout Progress
    ) throws(HTTPResponseError) {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        var position = 0
        while position < input.count {
            let remaining = input.count - position
            guard let newline = memchr(base + position, 0x0A, remaining) else {
                // No LF left: keep the partial line for the next feed.
                guard partialLine.count + remaining <= Self.maxLineBytes else {
                    throw .sseLineTooLong(limit: Self.maxLineBytes)
                }
                partialLine.append(contentsOf: UnsafeRawBufferPointer(start: base + position, count: remaining))
                return
            }
            let end = UnsafeRawPointer(newline) - base
            let piece = UnsafeRawBufferPointer(start: base + position, count: end - position)
            if partialLine.isEmpty {
                processLine(piece, into: &progress)
            } else {
                guard partialLine.count + piece.count <= Self.maxLineBytes else {
                    throw .sseLineTooLong(limit: Self.maxLineBytes)
                }
                // Moved out of `self` so that processLine may mutate `self` while it reads the line.
                var line: [UInt8] = []
                swap(&line, &partialLine)
                line.append(contentsOf: piece)
                line.withUnsafeBytes { processLine($0, into: &progress) }
                line.removeAll(keepingCapacity: true)
                swap(&line, &partialLine)
            }
            position = end + 1
        }
    }

    private mutating func processLine(_ rawLine: UnsafeRawBufferPointer, into progress: inout Progress) {
        var line = rawLine
        if let last = line.last, last == 0x0D {
            line = UnsafeRawBufferPointer(rebasing: line.dropLast())
        }
        if line.isEmpty {
            dispatchEvent(into: &progress)
            return
        }
        guard let value = Self.dataValue(of: line) else { return }
        eventDataLines += 1
        if Self.isDone(value) {
            eventHasDoneLine = true
        } else if Self.containsEmptyValue(value) {
            eventHasEmptyValue = true
        }
    }

    private mutating func dispatchEvent(into progress: inout Progress) {
        if eventDataLines == 1 && eventHasDoneLine {
            progress.sawDone = true
        } else if eventDataLines > 0 && !eventHasEmptyValue {
            // Several data lines join with LF, which none of the empty values
            // contains, so an event has one when one of its lines has one.
            progress.tokens += 1
        }
        eventDataLines = 0
        eventHasEmptyValue = false
        eventHasDoneLine = false
    }

    /// Returns the value of a `data` field line with one leading space removed, or nil for other lines.
    private static func dataValue(of line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard hasPrefix(line, "data") else { return nil }
        if line.count == 4 {
            // A field name without a colon has an empty value.
            return UnsafeRawBufferPointer(rebasing: line[4...])
        }
        guard line[4] == 0x3A else { return nil }
        var start = 5
        if start < line.count && line[start] == 0x20 {
            start += 1
        }
        return UnsafeRawBufferPointer(rebasing: line[start...])
    }

    private static func isDone(_ value: UnsafeRawBufferPointer) -> Bool {
        value.elementsEqual("[DONE]".utf8)
    }

    /// Checks whether `value` contains `"text":""`, `"content":""`, `"content":null`, `"delta":{}` or `"choices":[]`.
    static func containsEmptyValue(_ value: UnsafeRawBufferPointer) -> Bool {
        guard let base = value.baseAddress else { return false }
        var position = 0
        while position < value.count {
            guard let quote = memchr(base + position, 0x22, value.count - position) else { return false }
            let afterQuote = UnsafeRawPointer(quote) - base + 1
            let rest = UnsafeRawBufferPointer(rebasing: value[afterQuote...])
            if startsWithEmptyValue(rest) {
                return true
            }
            position = afterQuote
        }
        return false
    }

    /// Checks the bytes after an opening quote; the first byte selects the candidates.
    private static func startsWithEmptyValue(_ rest: UnsafeRawBufferPointer) -> Bool {
        guard let first = rest.first else { return false }
        switch first {
        case UInt8(ascii: "t"):
            return hasPrefix(rest, "text\":\"\"")
        case UInt8(ascii: "c"):
            return hasPrefix(rest, "content\":\"\"") || hasPrefix(rest, "content\":null")
                || hasPrefix(rest, "choices\":[]")
        case UInt8(ascii: "d"):
            return hasPrefix(rest, "delta\":{}")
        default:
            return false
        }
    }

    private static func hasPrefix(_ bytes: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard bytes.count >= count, let base = bytes.baseAddress else { return false }
        return memcmp(base, prefix.utf8Start, count) == 0
    }
}
