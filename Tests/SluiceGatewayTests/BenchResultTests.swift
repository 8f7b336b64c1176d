import Testing

@testable import SluiceGateway

@Suite struct BenchPercentileTests {
    @Test func nearestRank() {
        let values: [UInt64] = Array(1...100)
        #expect(nearestRankPercentile(values, 0.5) == 50)
        #expect(nearestRankPercentile(values, 0.99) == 99)
        #expect(nearestRankPercentile(values, 0) == 1)
        #expect(nearestRankPercentile(values, 1) == 100)
        #expect(nearestRankPercentile([7], 0.99) == 7)
        #expect(nearestRankPercentile([], 0.5) == nil)
    }

    @Test func leadingZeros() {
        // Three zeros then 10, 20: ranks 1-3 are 0, rank 4 is 10, rank 5 is 20.
        #expect(nearestRankPercentile([10, 20], zeros: 3, 0.5) == 0)
        #expect(nearestRankPercentile([10, 20], zeros: 3, 0.8) == 10)
        #expect(nearestRankPercentile([10, 20], zeros: 3, 0.99) == 20)
        #expect(nearestRankPercentile([], zeros: 2, 0.99) == 0)
        #expect(nearestRankPercentile([], zeros: 0, 0.5) == nil)
    }
}

@Suite struct BenchResultTests {
    private static func samples() -> BenchSamples {
        var samples = BenchSamples()
        samples.requestsSent = 12
        samples.tokensInWindow = 320
        samples.streamsInWindow = 10
        samples.streamsTotal = 11
        samples.cancelled = 1
        samples.ttft = [2_000_000, 1_000_000, 3_000_000]
        samples.itl = [500_000, 250_000]
        samples.itlZeroGaps = 1
        samples.countError("http_429")
        samples.countError("connection_lost")
        samples.countError("http_429")
        return samples
    }

    @Test func figures() {
        let result = BenchResult(concurrency: 4, window: 2_000_000_000, samples: Self.samples(), censoredWaits: [])
        #expect(result.windowSeconds == 2)
        #expect(result.streamsPerSecond == 5)
        #expect(result.tokensPerSecond == 160)
        #expect(result.ttftP50Milliseconds == 2)
        #expect(result.ttftP99Milliseconds == 3)
        #expect(!result.ttftP99IsLowerBound)
        #expect(result.itlP50Milliseconds == 0.25)
        #expect(result.itlP99Milliseconds == 0.5)
        #expect(result.itlSamples == 3)
    }

    @Test func censoredWaitMakesLowerBound() {
        let result = BenchResult(
            concurrency: 4, window: 2_000_000_000, samples: Self.samples(), censoredWaits: [9_000_000])
        #expect(result.ttftSamples == 4)
        #expect(result.ttftCensored == 1)
        #expect(result.ttftP99Milliseconds == 9)
        #expect(result.ttftP99IsLowerBound)
        #expect(result.ttftP50IsLowerBound)
    }

    @Test func jsonLineKeys() throws {
        let result = BenchResult(concurrency: 4, window: 1_500_000_000, samples: Self.samples(), censoredWaits: [])
        let line = result.jsonLine
        #expect(!line.contains("\n"))
        let value = try JSONParser.parse(Array(line.utf8))
        guard case .object(let members) = value else {
            Issue.record("expected an object, got \(line)")
            return
        }
        #expect(
            members.map(\.0) == [
                "concurrency", "window_s", "streams", "streams_per_s", "tokens", "tokens_per_s", "ttft_p50_ms",
                "ttft_p99_ms", "ttft_p50_lower_bound", "ttft_p99_lower_bound", "ttft_samples", "ttft_censored",
                "itl_p50_ms", "itl_p99_ms", "itl_samples", "requests_sent", "streams_total", "cancelled", "errors",
            ])
        #expect(value["streams_per_s"] == .number(6.67, isInteger: false))
        #expect(
            value["errors"]
                == .object([
                    ("connection_lost", .number(1, isInteger: true)),
                    ("http_429", .number(2, isInteger: true)),
                ]))
    }

    @Test func emptyRunHasNullPercentiles() throws {
        let result = BenchResult(concurrency: 1, window: 0, samples: BenchSamples(), censoredWaits: [])
        let value = try JSONParser.parse(Array(result.jsonLine.utf8))
        #expect(value["ttft_p50_ms"] == .null)
        #expect(value["itl_p99_ms"] == .null)
        #expect(value["streams_per_s"] == .number(0, isInteger: true))
    }
}
