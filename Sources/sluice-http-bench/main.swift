#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SluiceCore
import SluiceGateway
import SluiceHTTP

// A benchmark stand-in: the HTTP layer alone, with no scheduler or worker
// behind it. It serves POST /v1/completions with the bytes the simulated
// backend would send: one JSON body, or `max_tokens` SSE events and [DONE]
// when "stream" is true. The benchmark compares it with `sluice` to separate
// the HTTP layer's cost from the whole path's. It is not part of `sluice`.

/// Writes `text` and a newline to standard error.
func printError(_ text: String) {
    var bytes = Array((text + "\n").utf8)
    _ = write(2, &bytes, bytes.count)
}

var host = "127.0.0.1"
var port = 8090
var threads: Int?
var arguments = Array(CommandLine.arguments.dropFirst())
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    guard !arguments.isEmpty else {
        printError("usage: sluice-http-bench [--host ADDRESS] [--port PORT] [--threads N]")
        exit(2)
    }
    let value = arguments.removeFirst()
    switch flag {
    case "--host": host = value
    case "--port": port = Int(value) ?? port
    case "--threads": threads = Int(value)
    default:
        printError("sluice-http-bench: unknown flag \(flag)")
        exit(2)
    }
}

let words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and", "runs", "far", "away",
    "into", "green", "hills"]
let counter = Atomic<Int>(0)

/// Encodes the body of an OpenAI `text_completion` chunk or response, as the gateway does.
func completionJSON(id: String, model: String, text: String, finishReason: String?, usage: (Int, Int)?) -> [UInt8] {
    var writer = JSONWriter(capacity: 256)
    writer.raw("{\"id\":")
    writer.string(id)
    writer.raw(",\"object\":\"text_completion\",\"created\":")
    writer.integer(time(nil))
    writer.raw(",\"model\":")
    writer.string(model)
    writer.raw(",\"choices\":[{\"index\":0,\"text\":")
    writer.string(text)
    writer.raw(",\"logprobs\":null,\"finish_reason\":")
    if let finishReason { writer.string(finishReason) } else { writer.raw("null") }
    writer.raw("}]")
    if let (prompt, completion) = usage {
        writer.raw(",\"usage\":{\"prompt_tokens\":")
        writer.integer(prompt)
        writer.raw(",\"completion_tokens\":")
        writer.integer(completion)
        writer.raw(",\"total_tokens\":")
        writer.integer(prompt + completion)
        writer.raw("}")
    }
    writer.raw("}")
    return writer.bytes
}

var router = HTTPRouter()
router.get("/healthz") { _, responder in
    responder.send(status: 200, body: Array("{\"status\":\"ok\"}".utf8))
}
router.post("/v1/completions") { request, responder in
    guard let json = try? JSONParser.parse(request.body),
        case .string(let model)? = json["model"], case .string(let prompt)? = json["prompt"]
    else {
        responder.sendError(status: 400, code: "invalid_body", message: "Send a JSON object with model and prompt.")
        return
    }
    var maxTokens = 16
    if case .number(let value, _)? = json["max_tokens"] { maxTokens = max(1, Int(value)) }
    let stream = json["stream"] == .bool(true)
    let promptTokens = prompt.split(separator: " ").count
    let id = "cmpl-bench" + String(counter.wrappingAdd(1, ordering: .relaxed).oldValue, radix: 16)
    var headers = HTTPHeaders()
    guard stream else {
        let text = (0..<maxTokens).map { " " + words[$0 % words.count] }.joined()
        headers.add(name: "content-type", value: "application/json")
        responder.send(
            status: 200, headers: headers,
            body: completionJSON(id: id, model: model, text: text, finishReason: "length",
                usage: (promptTokens, maxTokens)))
        return
    }
    headers.add(name: "content-type", value: "text/event-stream")
    headers.add(name: "cache-control", value: "no-cache")
    responder.startStream(HTTPResponseHead(status: 200, headers: headers))
    for index in 0..<maxTokens {
        let chunk = completionJSON(
            id: id, model: model, text: " " + words[index % words.count], finishReason: nil, usage: nil)
        responder.writeStreamChunk(Array("data: ".utf8) + chunk + Array("\n\n".utf8))
    }
    let last = completionJSON(id: id, model: model, text: "", finishReason: "length", usage: nil)
    responder.writeStreamChunk(Array("data: ".utf8) + last + Array("\n\ndata: [DONE]\n\n".utf8))
    responder.finishStream(trailers: nil)
}

signal(SIGPIPE, SIG_IGN)
LogConfiguration.level = .warning
var configuration = HTTPServer.Configuration()
configuration.host = host
configuration.port = port
configuration.threads = threads
do {
    let server = try HTTPServer(configuration: configuration, router: router)
    try await server.runUntilShutdownSignal()
} catch {
    printError("sluice-http-bench: \(error)")
    exit(1)
}
