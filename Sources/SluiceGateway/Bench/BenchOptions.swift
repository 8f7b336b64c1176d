/// The settings of `sluice bench`, with the defaults listed in the help text.
public struct BenchOptions: Sendable, Equatable {
    /// The source of the request body.
    public enum BodySource: Sendable, Equatable {
        case inline(String)
        case file(path: String)
    }

    public var url = BenchURL(host: "127.0.0.1", port: 80, pathAndQuery: "/")
    public var body = BodySource.inline("")
    public var concurrency = 64
    public var duration: Duration = .seconds(5)
    public var warmup: Duration = .seconds(1)
    public var drain: Duration = .seconds(5)
    /// Requests to send in total; nil sends until the measured window ends.
    public var maxRequests: Int?
    /// Tokens after which a connection closes in the middle of a stream; nil never closes early.
    public var disconnectAfter: Int?
    /// Fraction of the connections that close after `disconnectAfter` tokens.
    public var disconnectFraction = 0.5
    public var json = false

    public init() {}

    /// Connections that close after `disconnectAfter` tokens: the fraction of
    /// `concurrency`, rounded half to even.
    var disconnectingConnections: Int {
        guard disconnectAfter != nil else { return 0 }
        return Int((Double(concurrency) * disconnectFraction).rounded(.toNearestOrEven))
    }

    public static let help = """
        Usage: sluice bench --url URL (--body JSON | --body-file FILE) [flags]

        Streams requests over keep-alive HTTP/1.1 connections and measures streams/s,
        tokens/s, time to first token (TTFT) and inter-token latency (ITL). Each
        connection sends the same POST request again as soon as the previous
        response ends. A token is a Server-Sent Events data event other than [DONE]
        that carries text.

          --url URL                   http://HOST[:PORT]/PATH of a streaming endpoint (https is not supported)
          --body JSON                 request body, a JSON text
          --body-file FILE            file with the JSON request body
          --concurrency N             concurrent connections (default 64)
          --duration DURATION         measured time after the warm-up (default 5s)
          --warmup DURATION           time before measuring starts (default 1s)
          --drain DURATION            maximum wait after the measured window for the first tokens of
                                      requests sent in it (default 5s)
          --requests N                stop sending after N requests in total (default: no limit)
          --disconnect-after K        close a connection after K tokens of a stream, then open a new one
          --disconnect-fraction F     fraction of the connections that do so, 0 to 1 (default 0.5)
          --json                      print one JSON object instead of a summary

        Durations accept a bare number of seconds or the suffixes us, ms, s, m.
        Tokens and completed streams count when they arrive inside the measured
        window. TTFT counts requests sent inside it. A request still waiting for its
        first token when the drain ends counts with the time it has waited, and the
        JSON output then marks a percentile it reaches as a lower bound.

        Exit status: 0 after a run, 1 when errors occurred and no stream completed,
        2 for invalid flags or an unusable URL or body.
        """

    static let valueFlags: Set<String> = [
        "url", "body", "body-file", "concurrency", "duration", "warmup", "drain", "requests", "disconnect-after",
        "disconnect-fraction",
    ]

    /// Parses the arguments after `bench`. The body file is read later, by `BenchRequest`.
    public static func parse(_ arguments: [String]) throws(UsageError) -> BenchOptions {
        var flags = try FlagReader(arguments, knownFlags: valueFlags, booleanFlags: ["json", "help"])
        var options = BenchOptions()

        guard let url = flags.string("url") else {
            throw UsageError(message: "--url is required, such as --url http://127.0.0.1:8080/v1/completions.")
        }
        options.url = try BenchURL.parse(url)

        switch (flags.string("body"), flags.string("body-file")) {
        case (let text?, nil): options.body = .inline(text)
        case (nil, let path?): options.body = .file(path: path)
        case (nil, nil): throw UsageError(message: "A request body is required: pass --body JSON or --body-file FILE.")
        case (_?, _?): throw UsageError(message: "Pass either --body or --body-file, not both.")
        }

        if let concurrency = try flags.integer("concurrency", min: 1) { options.concurrency = concurrency }
        if let duration = try flags.duration("duration") {
            guard duration > .zero else { throw UsageError(message: "--duration must be above 0, got 0.") }
            options.duration = duration
        }
        if let warmup = try flags.duration("warmup") { options.warmup = warmup }
        if let drain = try flags.duration("drain") { options.drain = drain }
        options.maxRequests = try flags.integer("requests", min: 1)
        options.disconnectAfter = try flags.integer("disconnect-after", min: 1)
        if let text = flags.string("disconnect-fraction") {
            guard let fraction = Double(text), (0...1).contains(fraction) else {
                throw UsageError(message: "--disconnect-fraction must be a number from 0 to 1, got '\(text)'.")
            }
            options.disconnectFraction = fraction
        }
        options.json = flags.flag("json")
        return options
    }
}

/// An `http://` URL split into what the request line and the Host field need.
public struct BenchURL: Sendable, Equatable {
    /// A name or an address; an IPv6 address without its brackets.
    public var host: String
    public var port: Int
    /// The path and the query, as sent in the request line.
    public var pathAndQuery: String

    /// The Host field's value: the host, in brackets when it is an IPv6 address, and the port.
    var hostField: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Parses `http://HOST[:PORT][/PATH][?QUERY]`; a fragment is dropped and the port defaults to 80.
    public static func parse(_ text: String) throws(UsageError) -> BenchURL {
        let scheme = "http://"
        guard text.lowercased().hasPrefix(scheme) else {
            throw UsageError(message: "--url must start with http:// (https is not supported), got '\(text)'.")
        }
        let rest = text.dropFirst(scheme.count).prefix { $0 != "#" }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var pathAndQuery = String(rest[authorityEnd...])
        if pathAndQuery.isEmpty || pathAndQuery.hasPrefix("?") {
            pathAndQuery = "/" + pathAndQuery
        }
        guard !authority.contains("@") else {
            throw UsageError(message: "--url must not contain user information ('user@'), got '\(text)'.")
        }

        var host = Substring(authority)
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw UsageError(message: "--url has an IPv6 address without its closing ']', got '\(text)'.")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let afterHost = authority[authority.index(after: close)...]
            if !afterHost.isEmpty {
                guard afterHost.hasPrefix(":") else {
                    throw UsageError(message: "--url has text after the IPv6 address's ']', got '\(text)'.")
                }
                portText = afterHost.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty else {
            throw UsageError(message: "--url has no host, got '\(text)'.")
        }

        var port = 80
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw UsageError(message: "--url has an invalid port '\(portText)': expected 1 to 65535.")
            }
            port = value
        }
        return BenchURL(host: String(host), port: port, pathAndQuery: pathAndQuery)
    }
}
