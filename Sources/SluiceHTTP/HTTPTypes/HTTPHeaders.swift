/// An ordered list of HTTP fields, shared by HTTP/1.1, HTTP/2 and gRPC.
///
/// Names keep the spelling they were received or added with, and lookups
/// compare them ASCII case-insensitively. Fields live in one array because a
/// message rarely has more than a few dozen of them, and a linear scan over a
/// small array is faster than hashing every name.
public struct HTTPHeaders: Sendable, Sequence, Equatable, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// One field line: a name and its value, without surrounding whitespace.
    public typealias Element = (name: String, value: String)

    @usableFromInline
    internal var fields: [Element]

    /// Creates an empty list that has room for `capacity` fields before it grows.
    public init(minimumCapacity capacity: Int = 0) {
        fields = []
        fields.reserveCapacity(capacity)
    }

    /// Creates a list from fields in the given order.
    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// The number of field lines, counting repeated names separately.
    public var count: Int { fields.count }

    public var isEmpty: Bool { fields.isEmpty }

    public func makeIterator() -> IndexingIterator<[Element]> {
        fields.makeIterator()
    }

    /// The value of the first field named `name`, or nil when there is none.
    public subscript(name: String) -> String? {
        for field in fields where HTTPHeaders.namesMatch(field.name, name) {
            return field.value
        }
        return nil
    }

    /// Returns the values of every field named `name`, in order.
    ///
    /// Values are returned as received: a comma-separated list on one line
    /// stays one element.
    public func values(for name: String) -> [String] {
        var result: [String] = []
        for field in fields where HTTPHeaders.namesMatch(field.name, name) {
            result.append(field.value)
        }
        return result
    }

    /// Returns whether at least one field is named `name`.
    public func contains(_ name: String) -> Bool {
        fields.contains { HTTPHeaders.namesMatch($0.name, name) }
    }

    /// Appends a field, keeping any earlier fields with the same name.
    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// Sets the value of the field named `name`: the first such field takes
    /// the new value and the others are removed. Appends the field when none exists.
    public mutating func replaceOrAdd(name: String, value: String) {
        guard let first = fields.firstIndex(where: { HTTPHeaders.namesMatch($0.name, name) }) else {
            fields.append((name: name, value: value))
            return
        }
        fields[first].value = value
        var index = fields.count - 1
        while index > first {
            if HTTPHeaders.namesMatch(fields[index].name, name) {
                fields.remove(at: index)
            }
            index -= 1
        }
    }

    /// Removes every field named `name`.
    public mutating func remove(name: String) {
        fields.removeAll { HTTPHeaders.namesMatch($0.name, name) }
    }

    /// Returns whether the comma-separated values of the fields named `name` contain
    /// `token`, compared case-insensitively. Use it for list fields such as
    /// `Connection` and `Transfer-Encoding`.
    public func containsToken(_ token: String, in name: String) -> Bool {
        for field in fields where HTTPHeaders.namesMatch(field.name, name) {
            if HTTPHeaders.listContainsToken(field.value, token) {
                return true
            }
        }
        return false
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        guard lhs.fields.count == rhs.fields.count else { return false }
        for (left, right) in zip(lhs.fields, rhs.fields) {
            guard left.name == right.name, left.value == right.value else { return false }
        }
        return true
    }

    public var description: String {
        let lines = fields.map { "\($0.name): \($0.value)" }
        return "[" + lines.joined(separator: ", ") + "]"
    }

    /// Compares two field names ASCII case-insensitively, as RFC 9110 requires.
    @inlinable
    public static func namesMatch(_ lhs: String, _ rhs: String) -> Bool {
        asciiCaseInsensitiveEqual(lhs.utf8, rhs.utf8)
    }

    @inlinable
    internal static func asciiCaseInsensitiveEqual(_ lhs: String.UTF8View, _ rhs: String.UTF8View) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (left, right) in zip(lhs, rhs) where left != right {
            guard asciiLowercased(left) == asciiLowercased(right) else { return false }
        }
        return true
    }

    @inlinable
    internal static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// Returns whether the comma-separated `list` has an element equal to `token`,
    /// ignoring ASCII case and the spaces or tabs around each element.
    internal static func listContainsToken(_ list: String, _ token: String) -> Bool {
        let bytes = list.utf8
        var elementStart = bytes.startIndex
        while true {
            let elementEnd = bytes[elementStart...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.endIndex
            if elementMatches(bytes[elementStart..<elementEnd], token.utf8) {
                return true
            }
            guard elementEnd < bytes.endIndex else { return false }
            elementStart = bytes.index(after: elementEnd)
        }
    }

    private static func elementMatches(_ element: Substring.UTF8View, _ token: String.UTF8View) -> Bool {
        var start = element.startIndex
        var end = element.endIndex
        while start < end, isSpaceOrTab(element[start]) {
            start = element.index(after: start)
        }
        while end > start, isSpaceOrTab(element[element.index(before: end)]) {
            end = element.index(before: end)
        }
        let trimmed = element[start..<end]
        guard trimmed.count == token.count else { return false }
        for (left, right) in zip(trimmed, token) where asciiLowercased(left) != asciiLowercased(right) {
            return false
        }
        return true
    }

    private static func isSpaceOrTab(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }
}
