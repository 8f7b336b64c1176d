import CKernels

/// A weight matrix of `rows` output features by `columns` input features, as the forward pass uses it.
///
/// Quantized matrices (Q4_0, Q4_1, Q8_0) point into the mapped GGUF file and
/// are multiplied in their quantized form. Float matrices (F32, or F16 and
/// BF16 converted to F32 at load) go through BLAS.
struct WeightMatrix: @unchecked Sendable {
    enum Storage {
        case quantized(type: GGMLType, rowBytes: Int, base: UnsafeRawPointer)
        case float(UnsafePointer<Float>)
    }

    let name: String
    let rows: Int
    let columns: Int
    let storage: Storage

    /// The types that the quantized kernels multiply directly.
    static let quantizedTypes: Set<GGMLType> = [.q4_0, .q4_1, .q8_0]
    /// The types converted to F32 at load.
    static let floatTypes: Set<GGMLType> = [.f32, .f16, .bf16]
}

/// Memory the model allocated (F32 copies of F16 and BF16 tensors), freed with the model.
final class OwnedBuffers: @unchecked Sendable {
    // Written only during model loading, which runs on one thread before the model is shared.
    private var buffers: [UnsafeMutablePointer<Float>] = []

    func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        buffers.append(buffer)
        return buffer
    }

    deinit {
        for buffer in buffers {
            buffer.deallocate()
        }
    }
}

extension GGMLType {
    /// The matching `SK_TYPE_*` constant for the C kernels.
    var kernelType: Int32 { Int32(bitPattern: rawValue) }
}
