/// Applies BPE merges to one word at a time, reusing its buffers across words.
///
/// The word starts as one symbol per byte. The adjacent pair with the lowest
/// merge rank joins first, the leftmost such pair on a tie, and joining repeats
/// until no adjacent pair has a merge rule. A binary heap orders the candidate
/// pairs, so a word of n bytes costs O(n log n) and long words without spaces
/// stay cheap. Candidates that a merge has made stale stay in the heap and are
/// skipped when they come out.
///
/// The buffers are raw memory that grows to the longest word seen, because
/// `Array` would check uniqueness on every write in this innermost loop. One
/// merger serves one `encode` call on one thread.
final class BPEMerger {
    static let noToken: Int32 = -1
    private static let merged: Int32 = -2

    /// A pair that may merge: ordered by rank, then by the position of its left symbol.
    private struct Candidate {
        /// The rank in the high 32 bits and the left symbol's index in the low 32 bits.
        var order: UInt64
        var left: Int32
        var right: Int32
        var result: Int32
    }

    /// The token id of each symbol. `Self.noToken` marks a byte the vocabulary
    /// has no token for, and `Self.merged` marks a symbol joined into its left neighbour.
    private var symbols: UnsafeMutablePointer<Int32>
    private var previous: UnsafeMutablePointer<Int32>
    private var next: UnsafeMutablePointer<Int32>
    /// Room for `capacity` symbols, and for three times as many heap candidates.
    private var capacity = 0
    private var heap: UnsafeMutablePointer<Candidate>
    private var heapCount = 0

    private let byteTokens: [Int32]
    private let merges: MergeTable

    init(byteTokens: [Int32], merges: MergeTable) {
        self.byteTokens = byteTokens
        self.merges = merges
        capacity = 64
        symbols = .allocate(capacity: capacity)
        previous = .allocate(capacity: capacity)
        next = .allocate(capacity: capacity)
        heap = .allocate(capacity: capacity * 2)
    }

    deinit {
        symbols.deallocate()
        previous.deallocate()
        next.deallocate()
        heap.deallocate()
    }

    /// Merges the word `bytes[range]` and appends its token ids to `output`.
    ///
    /// Bytes without a token are dropped, as llama.cpp drops them.
    func encodeWord(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, output: inout [Int32]) {
        let count = range.count
        if count == 1 {
            let token = byteTokens[Int(bytes[range.lowerBound])]
            if token != Self.noToken {
                output.append(token)
            }
            return
        }
        reserve(count)

        for position in 0..<count {
            symbols[position] = byteTokens[Int(bytes[range.lowerBound + position])]
            previous[position] = Int32(position - 1)
            next[position] = position + 1 < count ? Int32(position + 1) : -1
        }
        heapCount = 0
        for position in 0..<(count - 1) {
            pushCandidate(left: position, right: position + 1)
        }

        while let candidate = popCandidate() {
            let left = Int(candidate.order & 0xFFFF_FFFF)
            let right = Int(next[left])
            // Skip the pair when either side changed since it was pushed. Token
            // ids only grow longer under merging, so equal ids mean unchanged symbols.
            guard right >= 0, symbols[left] == candidate.left, symbols[right] == candidate.right else {
                continue
            }

            symbols[left] = candidate.result
            symbols[right] = Self.merged
            let afterRight = Int(next[right])
            next[left] = Int32(afterRight)
            if afterRight >= 0 {
                previous[afterRight] = Int32(left)
            }

            let beforeLeft = Int(previous[left])
            if beforeLeft >= 0 {
                pushCandidate(left: beforeLeft, right: left)
            }
            if afterRight >= 0 {
                pushCandidate(left: left, right: afterRight)
            }
        }

        var position = 0
        while position >= 0 {
            let token = symbols[position]
            if token != Self.noToken {
                output.append(token)
            }
            position = Int(next[position])
        }
    }

    /// Grows the buffers to hold a word of `count` bytes.
    ///
    /// A word starts with `count - 1` candidates and each of its at most
    /// `count - 1` merges pushes two more, so the heap needs room for `3 * count`.
    private func reserve(_ count: Int) {
        guard count > capacity else { return }
        symbols.deallocate()
        previous.deallocate()
        next.deallocate()
        heap.deallocate()
        capacity = max(count, capacity * 2)
        symbols = .allocate(capacity: capacity)
        previous = .allocate(capacity: capacity)
        next = .allocate(capacity: capacity)
        heap = .allocate(capacity: capacity * 3)
    }

    private func pushCandidate(left: Int, right: Int) {
        let leftToken = symbols[left]
        let rightToken = symbols[right]
        guard leftToken >= 0, rightToken >= 0, let merge = merges.merge(leftToken, rightToken) else {
            return
        }
        let candidate = Candidate(
            order: UInt64(UInt32(bitPattern: merge.rank)) << 32 | UInt64(left),
            left: leftToken,
            right: rightToken,
            result: merge.result
        )

        var child = heapCount
        heapCount += 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard candidate.order < heap[parent].order else { break }
            heap[child] = heap[parent]
            child = parent
        }
        heap[child] = candidate
    }

    private func popCandidate() -> Candidate? {
        guard heapCount > 0 else { return nil }
        let top = heap[0]
        heapCount -= 1
        guard heapCount > 0 else { return top }

        let last = heap[heapCount]
        var parent = 0
        while true {
            var smallest = 2 * parent + 1
            guard smallest < heapCount else { break }
            if smallest + 1 < heapCount && heap[smallest + 1].order < heap[smallest].order {
                smallest += 1
            }
            guard heap[smallest].order < last.order else { break }
            heap[parent] = heap[smallest]
            parent = smallest
        }
        heap[parent] = last
        return top
    }
}
