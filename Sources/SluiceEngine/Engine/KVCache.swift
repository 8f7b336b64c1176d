import CKernels
import SluiceCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Allocates and frees KV cache pages, each mapped separately so that freeing
/// one returns its memory to the system at once.
///
/// A page contains `pageTokens` positions of K and V of every layer in F16; see
/// `sk_kv_layout` for the order.
final class KVPageAllocator {
    let layout: sk_kv_layout
    let pageBytes: Int
    private(set) var pagesInUse = 0

    init(config: LlamaConfig, pageTokens: Int) {
        layout = sk_kv_layout(
            layers: Int32(config.layers), kv_heads: Int32(config.kvHeads), head_dim: Int32(config.headDim),
            page_tokens: Int32(pageTokens))
        pageBytes = sk_kv_page_bytes(layout)
    }

    var pageTokens: Int { Int(layout.page_tokens) }

    func allocate() throws(EngineError) -> UnsafeMutableRawPointer {
        let address = mmap(nil, pageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let address, address != MAP_FAILED else {
            throw .outOfMemory("could not map a KV cache page of \(pageBytes) bytes")
        }
        pagesInUse += 1
        return address
    }

    func free(_ page: UnsafeMutableRawPointer) {
        munmap(page, pageBytes)
        pagesInUse -= 1
    }
}

/// One running sequence: its tokens, its KV cache pages and its sampling state.
final class EngineSequence {
    let id: UInt64
    /// The prompt followed by every token sampled so far.
    var tokens: [Int32]
    let promptCount: Int
    let maxNewTokens: Int
    let sampling: SamplingParameters
    var random: SplitMix64
    /// Positions whose K and V are in the cache: tokens[0 ..< cachedCount] have been processed.
    var cachedCount = 0
    /// The logits row of this sequence in the last step's logits buffer.
    var logitsSlot = -1

    /// Page pointers indexed by position / pageTokens, with room for the whole reservation.
    let pages: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private(set) var pageCount = 0
    let pageCapacity: Int

    /// KV cache tokens reserved for the sequence: the prompt plus its max new tokens.
    var reservedTokens: Int { promptCount + maxNewTokens }
    var generatedCount: Int { tokens.count - promptCount }

    init(admission: EngineSequenceAdmission, pageTokens: Int) {
        id = admission.id
        tokens = admission.promptTokens
        tokens.reserveCapacity(admission.promptTokens.count + admission.maxNewTokens)
        promptCount = admission.promptTokens.count
        maxNewTokens = admission.maxNewTokens
        sampling = admission.sampling
        random = SplitMix64(seed: admission.sampling.seed ?? UInt64.random(in: .min ... .max))
        pageCapacity = (promptCount + maxNewTokens + pageTokens - 1) / pageTokens
        pages = .allocate(capacity: pageCapacity)
        pages.initialize(repeating: nil, count: pageCapacity)
    }

    /// Allocates pages until positions `0 ..< positionCount` have room.
    func reserveCache(positions positionCount: Int, allocator: KVPageAllocator) throws(EngineError) {
        let needed = (positionCount + allocator.pageTokens - 1) / allocator.pageTokens
        precondition(needed <= pageCapacity, "sequence \(id) grew past its KV reservation")
        while pageCount < needed {
            pages[pageCount] = try allocator.allocate()
            pageCount += 1
        }
    }

    /// Frees every page; the sequence must not run again.
    func releaseCache(allocator: KVPageAllocator) {
        for index in 0..<pageCount {
            allocator.free(pages[index]!)
            pages[index] = nil
        }
        pageCount = 0
    }

    deinit {
        precondition(pageCount == 0, "sequence \(id) was dropped without releasing its KV cache")
        pages.deallocate()
    }
}
