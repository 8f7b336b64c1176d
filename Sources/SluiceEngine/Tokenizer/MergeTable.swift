/// The BPE merge rules, keyed by the pair of token ids they join.
///
/// An open-addressing hash table with linear probing over two flat arrays: a
/// lookup on the encoding path hashes one integer and usually reads one slot,
/// where a `Dictionary` would run SipHash on every lookup.
struct MergeTable: Sendable {
    /// The merge of one pair: its rank (lower merges first) and the token it produces.
    struct Merge: Equatable {
        var rank: Int32
        var result: Int32
    }

    private var keys: [UInt64]
    private var merges: [Merge]
    private let shift: UInt64

    /// A key no pair of valid ids produces, because ids are below `Int32.max`.
    private static let emptyKey = UInt64.max

    private(set) var count = 0

    /// Creates an empty table with room for `capacity` merges at a load factor of at most one half.
    init(capacity: Int) {
        var slotBits = 4
        while (1 << slotBits) < capacity * 2 {
            slotBits += 1
        }
        keys = [UInt64](repeating: Self.emptyKey, count: 1 << slotBits)
        merges = [Merge](repeating: Merge(rank: 0, result: 0), count: 1 << slotBits)
        shift = UInt64(64 - slotBits)
    }

    /// Adds a merge unless the pair already has one: the first rule listed for a pair wins.
    ///
    /// `left` and `right` must be non-negative, and the table must have been created with enough capacity.
    mutating func insert(left: Int32, right: Int32, merge: Merge) {
        let key = Self.key(left, right)
        var slot = slotIndex(key)
        while keys[slot] != Self.emptyKey {
            if keys[slot] == key { return }
            slot = (slot + 1) & (keys.count - 1)
        }
        keys[slot] = key
        merges[slot] = merge
        count += 1
    }

    /// Returns the merge of `left` followed by `right`, or nil when no rule joins them.
    @inline(__always)
    func merge(_ left: Int32, _ right: Int32) -> Merge? {
        let key = Self.key(left, right)
        var slot = slotIndex(key)
        while true {
            let found = keys[slot]
            if found == key { return merges[slot] }
            if found == Self.emptyKey { return nil }
            slot = (slot + 1) & (keys.count - 1)
        }
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Fibonacci hashing: the top bits of the key times 2^64 / φ.
    @inline(__always)
    private func slotIndex(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }
}
