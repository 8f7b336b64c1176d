extension HTTP1RequestParser {
    /// The delimiting of a request body (RFC 9112, section 6.3).
    internal enum BodyFraming: Equatable {
        /// No body: neither Content-Length nor Transfer-Encoding, or a zero length.
        case none
        case contentLength(Int)
        case chunked
    }

    /// A summary of the codings that the Transfer-Encoding fields of a request list, in order.
    internal struct TransferCodings: Sendable {
        var isPresent = false
        var count = 0
        var chunkedCount = 0
        var lastIsChunked = false
        /// The first coding other than chunked, for the error message.
        var firstOtherCoding: String?
    }

    /// The request being parsed: the parts of its head read so far and the
    /// facts about framing that the header fields established.
    internal struct PartialMessage: Sendable {
        var method = HTTPMethod.get
        var target = ""
        var version = HTTPVersion.http1_1
        var headers = HTTPHeaders(minimumCapacity: 16)
        var trailers: HTTPHeaders?

        /// Bytes of header and trailer lines so far, CRLFs included.
        var fieldBytes = 0
        /// Header and trailer field lines so far.
        var fieldCount = 0
        /// Body bytes announced so far by chunk sizes.
        var chunkedBodyBytes = 0

        var contentLength: Int?
        var transferCodings = TransferCodings()
        var hostCount = 0
        /// The first member of an Expect field other than 100-continue.
        var unsupportedExpectation: String?

        func makeHead() -> HTTPRequestHead {
            HTTPRequestHead(method: method, target: target, version: version, headers: headers)
        }

        /// Parses one field line of the header section and records the facts
        /// it gives about framing, Host and Expect.
        mutating func parseHeaderLine(
            _ line: Slice<UnsafeBufferPointer<UInt8>>,
            limits: HTTP1ParserLimits
        ) throws(HTTP1ParseError) {
            let (name, value) = try parseFieldLine(line, limits: limits)

            switch name.count {
            case 4 where HTTP1Syntax.equalsIgnoringCase(name, "host"):
                hostCount += 1
                guard value.allSatisfy(HTTP1Syntax.isHostByte) else {
                    throw .invalidHost(HTTP1Syntax.printable(value))
                }
            case 6 where HTTP1Syntax.equalsIgnoringCase(name, "expect"):
                recordExpectation(value)
            case 14 where HTTP1Syntax.equalsIgnoringCase(name, "content-length"):
                try recordContentLength(value)
            case 17 where HTTP1Syntax.equalsIgnoringCase(name, "transfer-encoding"):
                recordTransferCodings(value)
            default:
                break
            }

            headers.add(name: HTTP1CommonNames.fieldName(name), value: HTTP1Syntax.string(value))
        }

        /// Parses one field line of the trailer section of a chunked body.
        mutating func parseTrailerLine(
            _ line: Slice<UnsafeBufferPointer<UInt8>>,
            limits: HTTP1ParserLimits
        ) throws(HTTP1ParseError) {
            let (name, value) = try parseFieldLine(line, limits: limits)
            if trailers == nil {
                trailers = HTTPHeaders()
            }
            trailers?.add(name: HTTP1Syntax.string(name), value: HTTP1Syntax.string(value))
        }

        /// Splits `name: value` and checks both against the field grammar of
        /// RFC 9112 (section 5) and the field count limit.
        private mutating func parseFieldLine(
            _ line: Slice<UnsafeBufferPointer<UInt8>>,
            limits: HTTP1ParserLimits
        ) throws(HTTP1ParseError) -> (name: Slice<UnsafeBufferPointer<UInt8>>, value: Slice<UnsafeBufferPointer<UInt8>>) {
            fieldCount += 1
            guard fieldCount <= limits.maxHeaderCount else {
                throw .tooManyHeaders(limit: limits.maxHeaderCount)
            }

            let bytes = UnsafeBufferPointer(rebasing: line)
            if let first = bytes.first, HTTP1Syntax.isSpaceOrTab(first) {
                throw .obsoleteLineFolding
            }

            // The name is token bytes up to the colon. Anything else is an
            // error, which `fieldLineError` classifies.
            var colon = 0
            while colon < bytes.count, HTTP1Syntax.isTokenByte(bytes[colon]) {
                colon += 1
            }
            guard colon > 0, colon < bytes.count, bytes[colon] == HTTP1Syntax.colon else {
                throw Self.fieldLineError(line)
            }

            var valueStart = colon + 1
            var valueEnd = bytes.count
            while valueStart < valueEnd, HTTP1Syntax.isSpaceOrTab(bytes[valueStart]) {
                valueStart += 1
            }
            while valueEnd > valueStart, HTTP1Syntax.isSpaceOrTab(bytes[valueEnd - 1]) {
                valueEnd -= 1
            }
            for index in valueStart..<valueEnd where !HTTP1Syntax.isFieldValueByte(bytes[index]) {
                throw .invalidHeaderValue(HTTP1Syntax.printable(line.prefix(colon)))
            }

            let base = line.startIndex
            return (line[base..<(base + colon)], line[(base + valueStart)..<(base + valueEnd)])
        }

        /// Describes what is wrong with the name part of a field line.
        private static func fieldLineError(_ line: Slice<UnsafeBufferPointer<UInt8>>) -> HTTP1ParseError {
            guard let colon = line.firstIndex(of: HTTP1Syntax.colon) else {
                return .missingColon(HTTP1Syntax.printable(line))
            }
            let name = line[line.startIndex..<colon]
            if let last = name.last, HTTP1Syntax.isSpaceOrTab(last) {
                return .whitespaceBeforeColon(HTTP1Syntax.printable(HTTP1Syntax.trimmingSpacesAndTabs(name)))
            }
            return .invalidHeaderName(HTTP1Syntax.printable(name))
        }

        /// Records a Content-Length value. A list of equal lengths, or
        /// several fields with equal lengths, count as one length, as RFC 9110
        /// (section 8.6) allows.
        private mutating func recordContentLength(_ value: Slice<UnsafeBufferPointer<UInt8>>) throws(HTTP1ParseError) {
            try HTTP1Syntax.forEachListElement(value) { (element) throws(HTTP1ParseError) in
                guard !element.isEmpty, element.allSatisfy(HTTP1Syntax.isDigit) else {
                    throw .invalidContentLength(HTTP1Syntax.printable(value))
                }

                var length = 0
                for digit in element {
                    let (shifted, overflowA) = length.multipliedReportingOverflow(by: 10)
                    let (sum, overflowB) = shifted.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
                    guard !overflowA, !overflowB else {
                        throw .invalidContentLength(HTTP1Syntax.printable(value))
                    }
                    length = sum
                }

                if let contentLength, contentLength != length {
                    throw .conflictingContentLengths
                }
                contentLength = length
            }
        }

        /// Records the codings a Transfer-Encoding field lists. Empty list
        /// elements are skipped, as RFC 9110 (section 5.6.1) requires.
        private mutating func recordTransferCodings(_ value: Slice<UnsafeBufferPointer<UInt8>>) {
            transferCodings.isPresent = true
            HTTP1Syntax.forEachListElement(value) { element in
                guard !element.isEmpty else { return }
                transferCodings.count += 1
                if HTTP1Syntax.equalsIgnoringCase(element, "chunked") {
                    transferCodings.chunkedCount += 1
                    transferCodings.lastIsChunked = true
                } else {
                    transferCodings.lastIsChunked = false
                    if transferCodings.firstOtherCoding == nil {
                        transferCodings.firstOtherCoding = HTTP1Syntax.printable(element)
                    }
                }
            }
        }

        private mutating func recordExpectation(_ value: Slice<UnsafeBufferPointer<UInt8>>) {
            HTTP1Syntax.forEachListElement(value) { element in
                guard !element.isEmpty, !HTTP1Syntax.equalsIgnoringCase(element, "100-continue") else { return }
                if unsupportedExpectation == nil {
                    unsupportedExpectation = HTTP1Syntax.printable(element)
                }
            }
        }

        /// Checks the rules that involve several fields and returns the body framing.
        ///
        /// Transfer-Encoding rules, from RFC 9112 (sections 6.1 and 6.3):
        /// with Content-Length too, or in HTTP/1.0, it is rejected with 400,
        /// because recipients that disagree on the framing enable request
        /// smuggling. A final coding other than chunked, or chunked listed
        /// twice, is 400, because the body length is then unknown. Other
        /// codings before a final chunked are 501, because none is implemented.
        mutating func finishHead(limits: HTTP1ParserLimits) throws(HTTP1ParseError) -> BodyFraming {
            if hostCount > 1 {
                throw .multipleHosts
            }
            if hostCount == 0, version == .http1_1 {
                throw .missingHost
            }

            var framing = BodyFraming.none
            if transferCodings.isPresent {
                if version == .http1_0 {
                    throw .transferEncodingInHTTP10
                }
                if contentLength != nil {
                    throw .conflictingLengthHeaders
                }
                guard transferCodings.lastIsChunked, transferCodings.chunkedCount == 1 else {
                    throw .chunkedNotFinal
                }
                if let other = transferCodings.firstOtherCoding {
                    throw .unsupportedTransferEncoding(other)
                }
                framing = .chunked
            } else if let contentLength, contentLength > 0 {
                guard contentLength <= limits.maxBodyBytes else {
                    throw .bodyTooLarge(limit: limits.maxBodyBytes)
                }
                framing = .contentLength(contentLength)
            }

            if let unsupportedExpectation {
                throw .unsupportedExpectation(unsupportedExpectation)
            }
            return framing
        }

        /// Counts the size of the next chunk against `limits.maxBodyBytes`.
        mutating func addChunkedBodyBytes(_ count: Int, limits: HTTP1ParserLimits) throws(HTTP1ParseError) {
            let (total, overflow) = chunkedBodyBytes.addingReportingOverflow(count)
            guard !overflow, total <= limits.maxBodyBytes else {
                throw .bodyTooLarge(limit: limits.maxBodyBytes)
            }
            chunkedBodyBytes = total
        }
    }
}
