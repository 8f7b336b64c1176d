import SluiceHTTP
import Testing

/// SplitMix64: a small deterministic generator, so that every run mutates the
/// same inputs and a failure reproduces.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

@Suite struct HTTP1RequestParserFuzzTests {
    static let seeds: [String] = [
        "GET /v1/models HTTP/1.1\r\nHost: localhost:8080\r\nAccept: */*\r\n\r\n",
        "POST /v1/completions HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
            + "{\"prompt\":\"\"}",
        "POST /v1/generate HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "6;a=\"b\"\r\nabcdef\r\n3\r\nghi\r\n0\r\nX-Sum: 1\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\nGET http://h/x?y=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5, 5\r\n\r\nhello"
            + "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    ]

    /// Bytes that matter to the grammar, inserted more often than random ones.
    static let interestingBytes: [UInt8] = Array("\r\n \t:;,=\"\\0aF-/%?*".utf8) + [0x00, 0x7F, 0x80, 0xFF]

    static let limits = HTTP1ParserLimits(
        maxRequestLineBytes: 128,
        maxHeaderBytes: 256,
        maxHeaderCount: 8,
        maxBodyBytes: 64,
        maxChunkLineBytes: 32,
        maxBufferedBytes: 512
    )

    @Test func randomMutationsParseConsistently() {
        var generator = SplitMix64(seed: 0x5EED_0001)
        var acceptedCount = 0
        var rejectedCount = 0

        for iteration in 0..<4000 {
            let seed = Array(Self.seeds[Int.random(in: 0..<Self.seeds.count, using: &generator)].utf8)
            let input = Self.mutate(seed, using: &generator)

            let whole = parseHTTP1(input, limits: Self.limits)
            let pieces = Self.randomPieces(of: input, using: &generator)
            let split = parseHTTP1(pieces: pieces, limits: Self.limits)

            #expect(split == whole, "iteration \(iteration): \(input)")
            Self.expectWellFormed(whole, iteration: iteration)
            if whole.error == nil {
                acceptedCount += 1
            } else {
                rejectedCount += 1
            }
        }

        // Both outcomes must occur often, or the mutations test nothing.
        #expect(acceptedCount > 400)
        #expect(rejectedCount > 400)
    }

    @Test func randomBytesNeverCrash() {
        var generator = SplitMix64(seed: 0x5EED_0002)
        for iteration in 0..<1000 {
            let count = Int.random(in: 0..<300, using: &generator)
            var input: [UInt8] = []
            for _ in 0..<count {
                let useInteresting = Bool.random(using: &generator)
                input.append(
                    useInteresting
                        ? Self.interestingBytes.randomElement(using: &generator)!
                        : UInt8.random(in: 0...255, using: &generator)
                )
            }
            let outcome = parseHTTP1(input, pieceSize: Int.random(in: 1...64, using: &generator), limits: Self.limits)
            Self.expectWellFormed(outcome, iteration: iteration)
        }
    }

    /// Checks that events come as (head body* end)*, optionally followed by
    /// the head and body of an unfinished request, and that no body passes the limit.
    static func expectWellFormed(_ outcome: HTTP1ParseOutcome, iteration: Int) {
        var insideMessage = false
        var bodyBytes = 0
        for event in outcome.events {
            switch event {
            case .head:
                #expect(!insideMessage, "iteration \(iteration): head inside a message")
                insideMessage = true
                bodyBytes = 0
            case .body(let bytes):
                #expect(insideMessage, "iteration \(iteration): body outside a message")
                #expect(!bytes.isEmpty, "iteration \(iteration): empty body event")
                bodyBytes += bytes.count
                #expect(bodyBytes <= limits.maxBodyBytes, "iteration \(iteration): body over the limit")
            case .end:
                #expect(insideMessage, "iteration \(iteration): end outside a message")
                insideMessage = false
            }
        }
        if let error = outcome.error {
            #expect([400, 413, 414, 417, 431, 501, 505].contains(error.status), "iteration \(iteration): \(error)")
            #expect(!error.code.isEmpty)
        }
    }

    static func mutate(_ seed: [UInt8], using generator: inout SplitMix64) -> [UInt8] {
        var bytes = seed
        let mutationCount = Int.random(in: 1...3, using: &generator)
        for _ in 0..<mutationCount {
            let position = Int.random(in: 0...bytes.count, using: &generator)
            switch Int.random(in: 0..<6, using: &generator) {
            case 0 where position < bytes.count:
                bytes[position] = interestingBytes.randomElement(using: &generator)!
            case 1:
                bytes.insert(interestingBytes.randomElement(using: &generator)!, at: position)
            case 2 where position < bytes.count:
                bytes.remove(at: position)
            case 3 where position < bytes.count:
                bytes[position] = UInt8.random(in: 0...255, using: &generator)
            case 4:
                let end = min(bytes.count, position + Int.random(in: 1...16, using: &generator))
                bytes.insert(contentsOf: bytes[position..<end], at: position)
            default:
                bytes.removeSubrange(position...)
            }
        }
        return bytes
    }

    static func randomPieces(of input: [UInt8], using generator: inout SplitMix64) -> [ArraySlice<UInt8>] {
        var pieces: [ArraySlice<UInt8>] = []
        var start = 0
        while start < input.count {
            let end = min(input.count, start + Int.random(in: 1...24, using: &generator))
            pieces.append(input[start..<end])
            start = end
        }
        return pieces
    }
}
