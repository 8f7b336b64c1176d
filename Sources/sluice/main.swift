#if canImport(Glibc)
import Glibc
#endif
import SluiceCore
import SluiceGateway

/// Writes `text` and a newline to standard error.
func printError(_ text: String) {
    var bytes = Array((text + "\n").utf8)
    _ = write(2, &bytes, bytes.count)
}

let usage = """
    Usage: sluice <command> [flags]

    Commands:
      serve     serve the OpenAI-compatible API with the built-in engine or the simulated accelerator
      bench     stream requests to an HTTP/1.1 endpoint and measure streams/s, tokens/s, TTFT and ITL
      help      show this text (sluice serve --help and sluice bench --help list each command's flags)

    """

var arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.isEmpty ? "help" : arguments.removeFirst()

switch command {
case "serve":
    if arguments.contains("--help") || arguments.contains("-h") {
        print(ServeOptions.help)
        exit(0)
    }
    let options: ServeOptions
    do {
        options = try ServeOptions.parse(arguments)
    } catch {
        printError("sluice serve: \(error)")
        exit(2)
    }
    LogConfiguration.level = options.logLevel
    LogConfiguration.format = options.logFormat
    signal(SIGPIPE, SIG_IGN)
    do {
        let gateway = try Gateway(options: options)
        try await gateway.runUntilShutdownSignal()
    } catch {
        Logger(label: "sluice").error("sluice serve failed", [("error", error)])
        printError("sluice serve: \(error)")
        exit(1)
    }
case "bench":
    if arguments.contains("--help") || arguments.contains("-h") {
        print(BenchOptions.help)
        exit(0)
    }
    let bench: BenchCommand
    do {
        bench = try BenchCommand(options: try BenchOptions.parse(arguments))
    } catch {
        printError("sluice bench: \(error)")
        exit(2)
    }
    do {
        let (output, failed) = try bench.run()
        print(output)
        if failed {
            printError("sluice bench: every request failed; see the errors above.")
            exit(1)
        }
    } catch {
        printError("sluice bench: \(error)")
        exit(1)
    }
case "help", "--help", "-h":
    print(usage)
default:
    printError("sluice: unknown command '\(command)'.\n\(usage)")
    exit(2)
}
