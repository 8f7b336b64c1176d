extension HTTP1RequestParser.PartialMessage {
    /// Parses `method SP request-target SP HTTP-version` (RFC 9112, section 3).
    mutating func parseRequestLine(_ line: Slice<UnsafeBufferPointer<UInt8>>) throws(HTTP1ParseError) {
        guard let methodEnd = line.firstIndex(of: HTTP1Syntax.space) else {
            throw .invalidRequestLine
        }
        let methodBytes = line[line.startIndex..<methodEnd]
        guard !methodBytes.isEmpty else {
            throw .invalidRequestLine
        }
        guard methodBytes.allSatisfy(HTTP1Syntax.isTokenByte) else {
            throw .invalidMethod
        }

        let afterMethod = line[(methodEnd + 1)...]
        guard let targetEnd = afterMethod.firstIndex(of: HTTP1Syntax.space) else {
            throw .invalidRequestLine
        }
        let targetBytes = line[(methodEnd + 1)..<targetEnd]
        guard !targetBytes.isEmpty else {
            throw .invalidRequestLine
        }

        method = HTTP1CommonNames.method(methodBytes)
        version = try Self.parseVersion(line[(targetEnd + 1)...])
        try Self.validateTarget(targetBytes, method: method)
        target = HTTP1Syntax.string(targetBytes)
    }

    /// Parses `HTTP/DIGIT.DIGIT` and accepts 1.0 and 1.1.
    ///
    /// Any other well-formed version gets 505, including HTTP/1.2 or later,
    /// which RFC 9110 (section 2.5) would let a server treat as 1.1: no such
    /// version exists, so a client that sends one is broken or probing.
    private static func parseVersion(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) throws(HTTP1ParseError) -> HTTPVersion {
        let start = bytes.startIndex
        guard bytes.count == 8,
            bytes[start] == UInt8(ascii: "H"),
            bytes[start + 1] == UInt8(ascii: "T"),
            bytes[start + 2] == UInt8(ascii: "T"),
            bytes[start + 3] == UInt8(ascii: "P"),
            bytes[start + 4] == UInt8(ascii: "/"),
            HTTP1Syntax.isDigit(bytes[start + 5]),
            bytes[start + 6] == UInt8(ascii: "."),
            HTTP1Syntax.isDigit(bytes[start + 7])
        else {
            throw .invalidVersion(HTTP1Syntax.printable(bytes))
        }
        let majorDigit = bytes[start + 5]
        let minorDigit = bytes[start + 7]

        let version = HTTPVersion(
            major: Int(majorDigit - UInt8(ascii: "0")),
            minor: Int(minorDigit - UInt8(ascii: "0"))
        )
        guard version == .http1_1 || version == .http1_0 else {
            throw .unsupportedVersion("\(version.major).\(version.minor)")
        }
        return version
    }

    /// Checks the characters of a request-target and that its form suits the
    /// method (RFC 9112, section 3.2): origin form (`/path?query`) and
    /// absolute form (`http://host/path`) for any method but CONNECT,
    /// asterisk form (`*`) only for OPTIONS, authority form (`host:port`) only
    /// and always for CONNECT.
    private static func validateTarget(
        _ target: Slice<UnsafeBufferPointer<UInt8>>,
        method: HTTPMethod
    ) throws(HTTP1ParseError) {
        let bytes = UnsafeBufferPointer(rebasing: target)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == HTTP1Syntax.percent {
                guard index + 2 < bytes.count,
                    HTTP1Syntax.hexValue(bytes[index + 1]) != nil,
                    HTTP1Syntax.hexValue(bytes[index + 2]) != nil
                else {
                    throw .invalidRequestTarget("'%' must be followed by two hexadecimal digits")
                }
                index += 3
                continue
            }
            guard HTTP1Syntax.isRequestTargetByte(byte) else {
                let character = HTTP1Syntax.printable(bytes[index..<(index + 1)])
                throw .invalidRequestTarget("the character '\(character)' is not allowed, so percent-encode it")
            }
            index += 1
        }

        if method == .connect {
            try validateAuthorityForm(target)
            return
        }
        switch target[target.startIndex] {
        case UInt8(ascii: "/"):
            return
        case UInt8(ascii: "*"):
            guard target.count == 1 else {
                throw .invalidRequestTarget("it must start with '/' or be an absolute http or https URL")
            }
            guard method == .options else {
                throw .invalidRequestTarget("the asterisk form '*' is only allowed with OPTIONS")
            }
        default:
            try validateAbsoluteForm(target)
        }
    }

    /// Checks `http://authority/...` or `https://authority/...`.
    private static func validateAbsoluteForm(_ target: Slice<UnsafeBufferPointer<UInt8>>) throws(HTTP1ParseError) {
        guard let colon = target.firstIndex(of: HTTP1Syntax.colon),
            HTTP1Syntax.equalsIgnoringCase(target[target.startIndex..<colon], "http")
                || HTTP1Syntax.equalsIgnoringCase(target[target.startIndex..<colon], "https"),
            target[colon...].starts(with: "://".utf8)
        else {
            throw .invalidRequestTarget(
                "it must start with '/' or be an absolute http or https URL, because the authority form is only allowed with CONNECT"
            )
        }

        let authorityStart = colon + 3
        var authorityEnd = authorityStart
        while authorityEnd < target.endIndex, target[authorityEnd] != UInt8(ascii: "/"),
            target[authorityEnd] != UInt8(ascii: "?")
        {
            authorityEnd += 1
        }
        let authority = target[authorityStart..<authorityEnd]
        guard !authority.isEmpty, authority.first != HTTP1Syntax.colon else {
            throw .invalidRequestTarget("the URL has no host")
        }
        // RFC 9110 (section 4.2.4) deprecates user information in http URLs
        // and lets recipients reject it, which avoids spoofed host names.
        guard !authority.contains(UInt8(ascii: "@")) else {
            throw .invalidRequestTarget("user information ('user@') is not allowed in the URL")
        }
    }

    /// Checks `host:port`, the only form CONNECT accepts.
    private static func validateAuthorityForm(_ target: Slice<UnsafeBufferPointer<UInt8>>) throws(HTTP1ParseError) {
        let reason = "CONNECT requires the authority form 'host:port'"
        guard target.allSatisfy(HTTP1Syntax.isHostByte),
            let colon = target.lastIndex(of: HTTP1Syntax.colon),
            colon > target.startIndex
        else {
            throw .invalidRequestTarget(reason)
        }
        let port = target[(colon + 1)...]
        guard !port.isEmpty, port.allSatisfy(HTTP1Syntax.isDigit) else {
            throw .invalidRequestTarget(reason)
        }
    }
}
