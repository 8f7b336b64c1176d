/// `sluice bench`, ready to run: its options, the request bytes and the resolved address.
public struct BenchCommand: Sendable {
    public let options: BenchOptions
    let request: BenchRequest

    /// Reads the body, checks that it is JSON and resolves the URL's host.
    /// - Throws: `UsageError` when the body file cannot be read, the body is not JSON or the host does not resolve.
    public init(options: BenchOptions) throws(UsageError) {
        self.options = options
        request = try BenchRequest(options: options)
    }

    /// Runs the load and returns the text to print (one JSON object line with
    /// `--json`, else a summary) and whether the run failed: errors occurred
    /// and no stream completed, so a script can tell from the exit status.
    /// - Throws: `BenchSystemError` when the event loop cannot be set up.
    public func run() throws(BenchSystemError) -> (output: String, failed: Bool) {
        let generator = try LoadGenerator(options: options, request: request)
        let result = generator.run()
        let failed = result.streamsTotal == 0 && !result.errors.isEmpty
        return (options.json ? result.jsonLine : result.summary, failed)
    }
}
