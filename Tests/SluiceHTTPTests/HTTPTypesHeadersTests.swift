import SluiceHTTP
import Testing

@Suite struct HTTPTypesHeadersTests {
    @Test func lookupIgnoresCase() {
        let headers: HTTPHeaders = ["Content-Type": "text/plain", "X-Trace": "a"]
        #expect(headers["content-type"] == "text/plain")
        #expect(headers["CONTENT-TYPE"] == "text/plain")
        #expect(headers["x-trace"] == "a")
        #expect(headers["missing"] == nil)
    }

    @Test func namesKeepReceivedSpelling() {
        var headers = HTTPHeaders()
        headers.add(name: "X-Request-ID", value: "1")
        #expect(headers.map(\.name) == ["X-Request-ID"])
    }

    @Test func subscriptReturnsFirstValue() {
        let headers: HTTPHeaders = ["Accept": "a", "accept": "b"]
        #expect(headers["ACCEPT"] == "a")
        #expect(headers.values(for: "accept") == ["a", "b"])
    }

    @Test func addKeepsOrderAndDuplicates() {
        var headers = HTTPHeaders()
        headers.add(name: "a", value: "1")
        headers.add(name: "b", value: "2")
        headers.add(name: "A", value: "3")
        #expect(headers.count == 3)
        #expect(headers.map(\.value) == ["1", "2", "3"])
    }

    @Test func replaceOrAddKeepsPositionAndDropsDuplicates() {
        var headers: HTTPHeaders = ["a": "1", "b": "2", "A": "3", "c": "4"]
        headers.replaceOrAdd(name: "a", value: "new")
        #expect(headers.map(\.name) == ["a", "b", "c"])
        #expect(headers.map(\.value) == ["new", "2", "4"])

        headers.replaceOrAdd(name: "d", value: "5")
        #expect(headers.map(\.name) == ["a", "b", "c", "d"])
    }

    @Test func removeDropsEveryMatch() {
        var headers: HTTPHeaders = ["a": "1", "b": "2", "A": "3"]
        headers.remove(name: "a")
        #expect(headers.map(\.name) == ["b"])
        #expect(!headers.contains("a"))
        #expect(headers.contains("B"))
    }

    @Test func containsTokenSearchesLists() {
        let headers: HTTPHeaders = ["Connection": "keep-alive, Upgrade", "connection": " close "]
        #expect(headers.containsToken("upgrade", in: "connection"))
        #expect(headers.containsToken("CLOSE", in: "Connection"))
        #expect(headers.containsToken("keep-alive", in: "connection"))
        #expect(!headers.containsToken("keep", in: "connection"))
        #expect(!headers.containsToken("close", in: "upgrade"))
    }

    @Test func equalityComparesInOrder() {
        let first: HTTPHeaders = ["a": "1", "b": "2"]
        let second: HTTPHeaders = ["a": "1", "b": "2"]
        let reordered: HTTPHeaders = ["b": "2", "a": "1"]
        #expect(first == second)
        #expect(first != reordered)
    }

    @Test func namesMatchIsASCIIOnly() {
        #expect(HTTPHeaders.namesMatch("Content-Length", "content-length"))
        #expect(!HTTPHeaders.namesMatch("Content-Length", "content-lengt"))
        // "[" and "{" differ by the ASCII case bit but are not letters.
        #expect(!HTTPHeaders.namesMatch("a[", "a{"))
    }
}
