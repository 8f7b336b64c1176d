import Testing
@testable import SluiceGateway

@Suite struct ServeOptionsTests {
    @Test func parsesFlagsWithUnits() throws {
        let options = try ServeOptions.parse([
            "--port", "9000", "--backend", "simulated", "--step-base=2.5ms", "--step-per-seq", "100us",
            "--max-body-bytes", "8MiB", "--batch-wait", "0", "--access-log",
        ])
        #expect(options.port == 9000)
        #expect(options.backend == .simulated)
        #expect(options.stepBase == .microseconds(2500))
        #expect(options.stepPerSequence == .microseconds(100))
        #expect(options.http.maxBodyBytes == 8 << 20)
        #expect(options.scheduler.batchWait == .zero)
        #expect(options.accessLog)
    }

    @Test(arguments: [
        ["--port", "70000"], ["--backend", "gpu"], ["--step-base", "fast"], ["--threads", "0"], ["--bogus", "1"],
        ["serve"], ["--port"], ["--bogus"],
    ])
    func rejectsBadFlags(_ arguments: [String]) {
        #expect(throws: UsageError.self) { try ServeOptions.parse(arguments) }
    }

    @Test func durationAndSizeParsing() {
        #expect(parseDuration("1.5s") == .milliseconds(1500))
        #expect(parseDuration("2m") == .seconds(120))
        #expect(parseDuration("-1s") == nil)
        #expect(parseByteSize("64KiB") == 65536)
        #expect(parseByteSize("12x") == nil)
    }
}

@Suite struct ServeOptionsMessageTests {
    @Test func unknownFlagWithoutValueSaysUnknown() {
        do {
            _ = try ServeOptions.parse(["--bogus"])
            Issue.record("expected a usage error")
        } catch {
            #expect(error.message.contains("Unknown flag --bogus"))
        }
    }
}
