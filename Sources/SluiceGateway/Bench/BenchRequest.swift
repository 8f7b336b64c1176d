#if canImport(Glibc)
import Glibc
#endif

/// The request that every connection of `sluice bench` sends, and the address it goes to.
struct BenchRequest: Sendable {
    /// The whole request: head and body.
    let bytes: [UInt8]
    let address: BenchAddress

    /// Reads and checks the body, builds the request and resolves the URL's host.
    /// - Throws: `UsageError` when the body file cannot be read, the body is not JSON or the host does not resolve.
    init(options: BenchOptions) throws(UsageError) {
        let body: [UInt8]
        switch options.body {
        case .inline(let text):
            body = Array(text.utf8)
        case .file(let path):
            body = try Self.readFile(path)
        }
        do {
            _ = try JSONParser.parse(body)
        } catch {
            throw UsageError(message: "The request body is not valid JSON: \(error).")
        }
        bytes = Self.makeRequest(url: options.url, body: body)
        address = try BenchAddress(host: options.url.host, port: options.url.port)
    }

    /// Builds `POST` with Host, Content-Type, Accept and Content-Length fields, then the body.
    static func makeRequest(url: BenchURL, body: [UInt8]) -> [UInt8] {
        let head =
            "POST \(url.pathAndQuery) HTTP/1.1\r\n"
            + "Host: \(url.hostField)\r\n"
            + "Content-Type: application/json\r\n"
            + "Accept: text/event-stream\r\n"
            + "Content-Length: \(body.count)\r\n"
            + "\r\n"
        return Array(head.utf8) + body
    }

    private static func readFile(_ path: String) throws(UsageError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw UsageError(message: "Cannot read the body file '\(path)': \(String(cString: strerror(errno))).")
        }
        defer { close(fd) }

        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR {
                continue
            }
            guard count >= 0 else {
                throw UsageError(message: "Cannot read the body file '\(path)': \(String(cString: strerror(errno))).")
            }
            if count == 0 {
                return contents
            }
            contents.append(contentsOf: chunk[..<count])
        }
    }
}

/// An IPv4 or IPv6 socket address to connect to.
struct BenchAddress: @unchecked Sendable {
    // @unchecked: sockaddr_storage is plain bytes that no one mutates after init.
    private(set) var storage = sockaddr_storage()
    let length: socklen_t
    let family: Int32

    /// Resolves `host` with getaddrinfo (numeric addresses need no lookup) and takes the first IPv4 or IPv6 result.
    /// - Throws: `UsageError` when the host does not resolve.
    init(host: String, port: Int) throws(UsageError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            let reason = String(cString: gai_strerror(status))
            throw UsageError(message: "Cannot resolve the host '\(host)' of --url: \(reason).")
        }
        defer { freeaddrinfo(first) }

        var current: UnsafeMutablePointer<addrinfo>? = first
        while let info = current {
            let family = info.pointee.ai_family
            if let address = info.pointee.ai_addr, family == AF_INET || family == AF_INET6 {
                let length = info.pointee.ai_addrlen
                withUnsafeMutableBytes(of: &storage) { storageBytes in
                    storageBytes.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length)))
                }
                self.length = length
                self.family = family
                return
            }
            current = info.pointee.ai_next
        }
        throw UsageError(message: "The host '\(host)' of --url has no IPv4 or IPv6 address.")
    }

    /// Calls `body` with the address as a `sockaddr` pointer.
    func withSocketAddress<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafeBytes(of: storage) { bytes in
            body(bytes.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }
}
