#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Severity of a log line, lowest first.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    public var name: String {
        switch self {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        case .critical: "critical"
        }
    }

    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = level
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// How log lines are written.
public enum LogFormat: String, Sendable {
    /// `ts=… level=info label=net msg="…" key=value`
    case keyValue = "kv"
    /// One JSON object per line.
    case json
}

/// Process-wide log settings: the minimum level and the line format.
public enum LogConfiguration {
    private static let settings = Mutex<(level: LogLevel, format: LogFormat)>((.info, .keyValue))
    private static let outputLock = Mutex(())

    public static var level: LogLevel {
        get { settings.withLock { $0.level } }
        set { settings.withLock { $0.level = newValue } }
    }

    public static var format: LogFormat {
        get { settings.withLock { $0.format } }
        set { settings.withLock { $0.format = newValue } }
    }

    static func write(_ line: String) {
        outputLock.withLock { _ in
            var line = line
            line.append("\n")
            line.withUTF8 { bytes in
                writeAll(bytes)
            }
        }
    }

    /// Writes all of `bytes` to standard error, retrying short writes.
    private static func writeAll(_ bytes: UnsafeBufferPointer<UInt8>) {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { break }
            offset += written
        }
    }
}

/// A small structured logger: a label, fixed metadata, and one line per event
/// on standard error. Messages are constant sentences; values go in metadata.
public struct Logger: Sendable {
    public var label: String
    public var metadata: [(String, String)]

    public init(label: String, metadata: [(String, String)] = []) {
        self.label = label
        self.metadata = metadata
    }

    /// Returns a copy of this logger that adds `value` under `key` to every line.
    public func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy.metadata.append((key, value))
        return copy
    }

    public func isEnabled(_ level: LogLevel) -> Bool { level >= LogConfiguration.level }

    public func log(
        _ level: LogLevel, _ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, Any)] = []
    ) {
        guard isEnabled(level) else { return }
        let fields = metadata.map { ($0.0, $0.1 as Any) } + fields()
        LogConfiguration.write(Self.format(level: level, label: label, message: message(), fields: fields))
    }

    public func trace(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, Any)] = []) {
        log(.trace, message(), fields())
    }
    public func debug(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, Any)] = []) {
        log(.debug, message(), fields())
    }
    public func info(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, Any)] = []) {
        log(.info, message(), fields())
    }
    public func notice(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, Any)] = []) {
        log(.notice, message(), fields())
    }
    public func warning(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, Any)] = []) {
        log(.warning, message(), fields())
    }
    public func error(_ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, Any)] = []) {
        log(.error, message(), fields())
    }

    static func format(level: LogLevel, label: String, message: String, fields: [(String, Any)]) -> String {
        let timestamp = Self.timestamp()
        switch LogConfiguration.format {
        case .keyValue:
            var line = "ts=\(timestamp) level=\(level.name) label=\(label) msg=\(quoteIfNeeded(message))"
            for (key, value) in fields {
                line += " \(key)=\(quoteIfNeeded(String(describing: value)))"
            }
            return line
        case .json:
            var line = "{\"ts\":\(jsonString(timestamp)),\"level\":\"\(level.name)\",\"label\":\(jsonString(label))"
            line += ",\"msg\":\(jsonString(message))"
            for (key, value) in fields {
                let rendered: String
                switch value {
                case let number as Int: rendered = String(number)
                case let number as Double: rendered = number.isFinite ? String(number) : jsonString(String(number))
                case let flag as Bool: rendered = flag ? "true" : "false"
                default: rendered = jsonString(String(describing: value))
                }
                line += ",\(jsonString(key)):\(rendered)"
            }
            return line + "}"
        }
    }

    static func quoteIfNeeded(_ text: String) -> String {
        let needsQuotes = text.isEmpty || text.utf8.contains { $0 <= 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "=") }
        guard needsQuotes else { return text }
        return jsonString(text)
    }

    /// Escapes `text` as a JSON string literal, quotes included.
    public static func jsonString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    /// UTC time as ISO 8601 with milliseconds.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let milliseconds = now.tv_nsec / 1_000_000
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds), 3))Z"
    }
}
