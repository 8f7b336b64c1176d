/// An ordered list of HTTP fields, shared by HTTP/1.1, HTTP/2 and gRPC.
///
/// Names keep the spelling they were received or added with, and lookups
/// compare them ASCII case-insensitively. Fields live in one array because a
/// message rarely has more than a few dozen of them, and a linear scan over a
/// small array is faster than hashing every name.
public struct HTTPHeaders: Sendable, Sequence, Equatable, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// One field line: a name and its value, without surrounding whitespace.
    public typealias Element = (name: String, value: String)

    /// A named struct rather than the `Element` tuple, because arrays of
    /// tuples are copied and destroyed through slower generic runtime calls.
    fileprivate struct Field: Sendable {
        var name: String
        var value: String
    }

    private var fields: [Field]

    /// Creates an empty list that has room for `capacity` fields before it grows.
    public init(minimumCapacity capacity: Int = 0) {
        fields = []
        fields.reserveCapacity(capacity)
    }

    /// Creates a list from fields in the given order.
    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { Field(name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// The number of field lines, counting repeated names separately.
    public var count: Int { fields.count }

    public var isEmpty: Bool { fields.isEmpty }

    public func makeIterator() -> Iterator {
        Iterator(fields: fields.makeIterator())
    }

    /// Iterates over the fields in order as `(name, value)` pairs.
    public struct Iterator: IteratorProtocol {
        fileprivate var fields: IndexingIterator<[Field]>

        public mutating func next() -> Element? {
            fields.next().map { (name: $0.name, value: $0.value) }
        }
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
        fields.append(Field(name: name, value: value))
    }

    /// Sets the value of the field named `name`: the first such field takes
    /// the new value and the others are removed. Appends the field when none exists.
    public mutating func replaceOrAdd(name: String, value: String) {
        guard let first = fields.firstIndex(where: { HTTPHeaders.namesMatch($0.name, name) }) else {
            fields.append(Field(name: name, value: value))
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
    public static func namesMatch(_ lhs: String, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        var left = lhs
        var right = rhs
        return left.withUTF8 { leftBytes in
            right.withUTF8 { rightBytes in
                asciiCaseInsensitiveEqual(leftBytes[...], rightBytes[...])
            }
        }
    }

    private static func asciiCaseInsensitiveEqual(
        _ lhs: Slice<UnsafeBufferPointer<UInt8>>,
        _ rhs: Slice<UnsafeBufferPointer<UInt8>>
    ) -> Bool {
        guard lhs.count == rhs.count else { return false }
        let left = UnsafeBufferPointer(rebasing: lhs)
        let right = UnsafeBufferPointer(rebasing: rhs)
        for index in 0..<left.count where left[index] != right[index] {
            guard asciiLowercased(left[index]) == asciiLowercased(right[index]) else { return false }
        }
        return true
    }

    private static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// Returns whether the comma-separated `list` has an element equal to
    /// `token`, ignoring ASCII case and the spaces or tabs around each element.
    internal static func listContainsToken(_ list: String, _ token: String) -> Bool {
        var listCopy = list
        var tokenCopy = token
        return listCopy.withUTF8 { listBytes in
            tokenCopy.withUTF8 { tokenBytes in
                var elementStart = 0
                while elementStart <= listBytes.count {
                    var elementEnd = elementStart
                    while elementEnd < listBytes.count, listBytes[elementEnd] != UInt8(ascii: ",") {
                        elementEnd += 1
                    }
                    var start = elementStart
                    var end = elementEnd
                    while start < end, isSpaceOrTab(listBytes[start]) {
                        start += 1
                    }
                    while end > start, isSpaceOrTab(listBytes[end - 1]) {
                        end -= 1
                    }
                    if asciiCaseInsensitiveEqual(listBytes[start..<end], tokenBytes[...]) {
                        return true
                    }
                    elementStart = elementEnd + 1
                }
                return false
            }
        }
    }

    private static func isSpaceOrTab(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }
}
