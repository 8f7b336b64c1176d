/// Applies BPE merges to one word at a time, reusing its buffers across words.
///
/// The word starts as one symbol per byte. The adjacent pair with the lowest
/// merge rank joins first, the leftmost such pair on a tie, and joining repeats
/// until no adjacent pair has a merge rule. A binary heap orders the candidate
/// pairs, so a word of n bytes costs O(n log n) and long words without spaces
/// stay cheap. Candidates that a merge has made stale stay in the heap and are
/// skipped when they come out.
struct BPEMerger {
    /// The token id of each symbol. `Self.noToken` marks a byte the vocabulary
    /// has no token for, and `Self.merged` marks a symbol joined into its left neighbour.
    private var symbols: [Int32] = []
    private var previous: [Int32] = []
    private var next: [Int32] = []
    private var heap: [Candidate] = []

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

    /// Merges the word whose bytes' tokens are `byteTokens[bytes[range]]` and appends its token ids to `output`.
    ///
    /// Bytes without a token are dropped, as llama.cpp drops them.
    mutating func encodeWord(
        _ bytes: UnsafeBufferPointer<UInt8>,
        range: Range<Int>,
        byteTokens: [Int32],
        merges: MergeTable,
        output: inout [Int32]
    ) {
        if range.count == 1 {
            let token = byteTokens[Int(bytes[range.lowerBound])]
            if token != Self.noToken {
                output.append(token)
            }
            return
        }

        symbols.removeAll(keepingCapacity: true)
        previous.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)

        for (position, byteIndex) in range.enumerated() {
            symbols.append(byteTokens[Int(bytes[byteIndex])])
            previous.append(Int32(position - 1))
            next.append(position + 1 < range.count ? Int32(position + 1) : -1)
        }
        for position in 0..<(symbols.count - 1) {
            pushCandidate(left: position, right: position + 1, merges: merges)
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
            let afterRight = next[right]
            next[left] = afterRight
            if afterRight >= 0 {
                previous[Int(afterRight)] = Int32(left)
            }

            let beforeLeft = Int(previous[left])
            if beforeLeft >= 0 {
                pushCandidate(left: beforeLeft, right: left, merges: merges)
            }
            if afterRight >= 0 {
                pushCandidate(left: left, right: Int(afterRight), merges: merges)
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

    private mutating func pushCandidate(left: Int, right: Int, merges: MergeTable) {
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

        heap.append(candidate)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].order < heap[parent].order else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popCandidate() -> Candidate? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }

        let top = heap[0]
        heap[0] = last
        var parent = 0
        while true {
            let leftChild = 2 * parent + 1
            guard leftChild < heap.count else { break }
            var smallest = leftChild
            let rightChild = leftChild + 1
            if rightChild < heap.count && heap[rightChild].order < heap[leftChild].order {
                smallest = rightChild
            }
            guard heap[smallest].order < heap[parent].order else { break }
            heap.swapAt(smallest, parent)
            parent = smallest
        }
        return top
    }
}
