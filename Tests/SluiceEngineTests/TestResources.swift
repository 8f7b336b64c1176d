import Foundation
import Testing

@testable import SluiceEngine

/// Locates the test model and reference data, and opens the model once per test process.
enum TestResources {
    /// The repository root, derived from this file's path (`Tests/SluiceEngineTests/` is two levels down).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The model path: `SLUICE_MODEL` when set, else the file `scripts/bootstrap.sh` downloads.
    static var modelPath: String {
        if let path = ProcessInfo.processInfo.environment["SLUICE_MODEL"], !path.isEmpty {
            return path
        }
        return repositoryRoot.appendingPathComponent(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    }

    /// The reference data folder: `SLUICE_REFERENCE_DIR` when set, else `../shared/reference` next to the repository.
    static var referenceDirectory: URL {
        if let path = ProcessInfo.processInfo.environment["SLUICE_REFERENCE_DIR"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/reference")
    }

    struct MissingResource: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens the test model. When it is missing, throws an error that explains how to download it.
    static func openModelFile() throws -> GGUFFile {
        let path = modelPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw MissingResource(
                description: "test model not found at \(path): run scripts/bootstrap.sh or set SLUICE_MODEL")
        }
        return try GGUFFile(path: path)
    }

    /// Reads `smollm2-golden.json`, failing with a message naming the path when it is missing.
    static func loadGolden() throws -> GoldenReference {
        let url = referenceDirectory.appendingPathComponent("smollm2-golden.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw MissingResource(
                description: "reference data not found at \(url.path): clone the shared folder next to the "
                    + "repository or set SLUICE_REFERENCE_DIR")
        }
        return try JSONDecoder().decode(GoldenReference.self, from: data)
    }

    /// Writes bytes to a new file in a fresh temporary folder and returns its path.
    static func writeTemporaryFile(_ bytes: [UInt8], name: String = "test.gguf") throws -> String {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("sluice-engine-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }
}

/// The part of `smollm2-golden.json` the engine tests use.
struct GoldenReference: Decodable {
    struct GreedyCase: Decodable {
        struct Step: Decodable {
            var id: Int32
            /// The five most likely tokens as `[id, probability]` pairs.
            var top: [[Double]]
        }

        var prompt: String
        var promptIDs: [Int32]
        var steps: [Step]

        enum CodingKeys: String, CodingKey {
            case prompt
            case promptIDs = "prompt_ids"
            case steps
        }
    }

    var greedy: [GreedyCase]
}
