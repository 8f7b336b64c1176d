import SluiceCore

/// A command-line usage error. The message names the flag and the accepted values.
public struct UsageError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Reads `--flag value` and `--flag=value` pairs and boolean switches.
struct FlagReader {
    private var values: [String: String] = [:]
    private var switches: Set<String> = []
    private(set) var consumed: Set<String> = []

    /// - Parameters:
    ///   - knownFlags: every flag name the command accepts, so a misspelled one is reported as unknown.
    ///   - booleanFlags: the known flags that take no value.
    init(_ arguments: [String], knownFlags: Set<String>, booleanFlags: Set<String>) throws(UsageError) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            guard argument.hasPrefix("--") else {
                throw UsageError(message: "Unexpected argument '\(argument)'; flags start with --. See --help.")
            }
            let body = argument.dropFirst(2)
            let name = body.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            guard knownFlags.contains(name) || booleanFlags.contains(name) else {
                throw UsageError(message: "Unknown flag --\(name). See --help for the flags this command accepts.")
            }
            if let equals = body.firstIndex(of: "=") {
                values[String(body[..<equals])] = String(body[body.index(after: equals)...])
            } else if booleanFlags.contains(String(body)) {
                switches.insert(String(body))
            } else {
                guard index + 1 < arguments.count else {
                    throw UsageError(message: "--\(body) needs a value. See --help.")
                }
                values[String(body)] = arguments[index + 1]
                index += 1
            }
            index += 1
        }
    }

    var allNames: Set<String> { Set(values.keys).union(switches) }

    mutating func flag(_ name: String) -> Bool {
        consumed.insert(name)
        return switches.contains(name) || values[name] == "true"
    }

    mutating func string(_ name: String) -> String? {
        consumed.insert(name)
        return values[name]
    }

    mutating func integer(_ name: String, min: Int = Int.min) throws(UsageError) -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text), value >= min else {
            throw UsageError(message: "--\(name) must be an integer of at least \(min), got '\(text)'.")
        }
        return value
    }

    mutating func bytes(_ name: String) throws(UsageError) -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = parseByteSize(text) else {
            throw UsageError(message: "--\(name) must be a size such as 65536, 64KiB or 8MiB, got '\(text)'.")
        }
        return value
    }

    mutating func duration(_ name: String) throws(UsageError) -> Duration? {
        guard let text = string(name) else { return nil }
        guard let value = parseDuration(text) else {
            throw UsageError(message: "--\(name) must be a duration such as 500us, 1.5ms, 2s or 1m, got '\(text)'.")
        }
        return value
    }
}

/// Parses `250us`, `1.5ms`, `2s`, `1m` (a bare number means seconds).
func parseDuration(_ text: String) -> Duration? {
    let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
    var number = Substring(text)
    var scale = 1.0
    for (suffix, factor) in units where text.hasSuffix(suffix) {
        number = text.dropLast(suffix.count)
        scale = factor
        break
    }
    guard let value = Double(number), value >= 0, value.isFinite else { return nil }
    return .nanoseconds(Int64((value * scale * 1e9).rounded()))
}

/// Parses `4096`, `64KiB`, `8MiB`, `1GiB` (also KB/MB/GB as powers of 1024).
func parseByteSize(_ text: String) -> Int? {
    let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1 << 10), ("MB", 1 << 20),
        ("GB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)]
    for (suffix, factor) in units where text.hasSuffix(suffix) {
        guard let value = Int(text.dropLast(suffix.count)), value >= 0 else { return nil }
        return value * factor
    }
    guard let value = Int(text), value >= 0 else { return nil }
    return value
}
