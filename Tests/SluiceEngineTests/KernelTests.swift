import CKernels
import Foundation
import Testing

@testable import SluiceEngine

/// Builds quantized weight rows of a given type from floats, for kernel tests.
enum TestQuantizer {
    static func halfBits(_ value: Float) -> UInt16 { sk_fp32_to_fp16(value) }

    static func appendHalf(_ value: Float, to bytes: inout [UInt8]) {
        let bits = halfBits(value)
        bytes.append(UInt8(bits & 0xFF))
        bytes.append(UInt8(bits >> 8))
    }

    /// Quantizes `values` (a multiple of 32) to `type`'s blocks with a simple min/max or absmax scheme.
    static func quantize(_ values: [Float], type: GGMLType) -> [UInt8] {
        var bytes: [UInt8] = []
        for start in stride(from: 0, to: values.count, by: 32) {
            let block = Array(values[start..<start + 32])
            switch type {
            case .q8_0:
                let scale = (block.map(abs).max() ?? 0) / 127
                appendHalf(scale, to: &bytes)
                for value in block {
                    let q = scale == 0 ? 0 : Int8(clamping: Int((value / scale).rounded()))
                    bytes.append(UInt8(bitPattern: q))
                }
            case .q4_0:
                let scale = (block.map(abs).max() ?? 0) / 7
                appendHalf(scale, to: &bytes)
                let q = block.map { scale == 0 ? 8 : min(15, max(0, Int(($0 / scale).rounded()) + 8)) }
                for i in 0..<16 { bytes.append(UInt8(q[i] | (q[i + 16] << 4))) }
            case .q4_1:
                let low = block.min()!
                let scale = (block.max()! - low) / 15
                appendHalf(scale, to: &bytes)
                appendHalf(low, to: &bytes)
                let q = block.map { scale == 0 ? 0 : min(15, max(0, Int((($0 - low) / scale).rounded()))) }
                for i in 0..<16 { bytes.append(UInt8(q[i] | (q[i + 16] << 4))) }
            default:
                fatalError("no test quantizer for \(type)")
            }
        }
        return bytes
    }
}

/// Seeded generator of test data.
struct TestRandom {
    var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    mutating func floats(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in Float(generator.nextUnitInterval() * 2 - 1) * scale }
    }
}

@Suite("Kernels")
struct KernelTests {
    /// Dequantizes a whole matrix with `sk_dequantize_row`.
    static func dequantize(_ bytes: [UInt8], type: GGMLType, rows: Int, columns: Int) -> [Float] {
        var output = [Float](repeating: 0, count: rows * columns)
        let rowBytes = bytes.count / rows
        bytes.withUnsafeBytes { raw in
            output.withUnsafeMutableBufferPointer { destination in
                for row in 0..<rows {
                    let status = sk_dequantize_row(
                        type.kernelType, raw.baseAddress! + row * rowBytes, destination.baseAddress! + row * columns,
                        columns)
                    precondition(status == 0)
                }
            }
        }
        return output
    }

    /// Quantizes activation rows with `sk_quantize_rows` and returns them dequantized, plus the raw parts.
    struct QuantizedActivations {
        var values: [Int8]
        var scales: [Float]
        var sums: [Float]
        var scaleStride: Int

        func dequantized(rows: Int, columns: Int) -> [Float] {
            var output = [Float](repeating: 0, count: rows * columns)
            for row in 0..<rows {
                for i in 0..<columns {
                    output[row * columns + i] = Float(values[row * columns + i]) * scales[row * scaleStride + i / 32]
                }
            }
            return output
        }
    }

    static func quantizeActivations(_ x: [Float], rows: Int, columns: Int) -> QuantizedActivations {
        let scaleStride = ForwardBuffers.scaleStride(columns: columns)
        var result = QuantizedActivations(
            values: [Int8](repeating: 0, count: rows * columns),
            scales: [Float](repeating: -1, count: rows * scaleStride),
            sums: [Float](repeating: -1, count: rows * scaleStride), scaleStride: scaleStride)
        x.withUnsafeBufferPointer { input in
            result.values.withUnsafeMutableBufferPointer { q in
                result.scales.withUnsafeMutableBufferPointer { d in
                    result.sums.withUnsafeMutableBufferPointer { s in
                        var rowsDescriptor = sk_q8_rows(
                            q: q.baseAddress, d: d.baseAddress, s: s.baseAddress, q_stride: columns,
                            ds_stride: scaleStride, rows: 0, columns: Int32(columns))
                        sk_quantize_rows(input.baseAddress, columns, Int32(rows), Int32(columns), &rowsDescriptor)
                    }
                }
            }
        }
        return result
    }

    /// Runs `sk_qmatmul` and returns output[b][n].
    static func multiply(
        weights: [UInt8], type: GGMLType, rows: Int, columns: Int, activations: QuantizedActivations, batch: Int,
        pool: OpaquePointer?
    ) -> [Float] {
        var output = [Float](repeating: .nan, count: batch * rows)
        var activations = activations
        weights.withUnsafeBytes { raw in
            output.withUnsafeMutableBufferPointer { out in
                activations.values.withUnsafeMutableBufferPointer { q in
                    activations.scales.withUnsafeMutableBufferPointer { d in
                        activations.sums.withUnsafeMutableBufferPointer { s in
                            var x = sk_q8_rows(
                                q: q.baseAddress, d: d.baseAddress, s: s.baseAddress, q_stride: columns,
                                ds_stride: activations.scaleStride, rows: Int32(batch), columns: Int32(columns))
                            var matrix = sk_qmatrix(
                                type: type.kernelType, weights: raw.baseAddress, row_bytes: raw.count / rows,
                                rows: Int32(rows), output: out.baseAddress, output_stride: rows)
                            let status = sk_qmatmul(pool, &matrix, 1, &x)
                            precondition(status == 0)
                        }
                    }
                }
            }
        }
        return output
    }

    @Test("dequantize block layouts")
    func dequantizeBlockLayouts() {
        // Q4_0: d = 0.5, nibbles 0..15 low, 15..0 high; value = (q - 8) * d.
        var q4_0: [UInt8] = []
        TestQuantizer.appendHalf(0.5, to: &q4_0)
        for i in 0..<16 { q4_0.append(UInt8(i | ((15 - i) << 4))) }
        var expected4_0: [Float] = []
        for i in 0..<16 { expected4_0.append(Float(i - 8) * 0.5) }
        for i in 0..<16 { expected4_0.append(Float(15 - i - 8) * 0.5) }
        #expect(Self.dequantize(q4_0, type: .q4_0, rows: 1, columns: 32) == expected4_0)

        // Q4_1: d = 0.25, m = -1; value = q * d + m.
        var q4_1: [UInt8] = []
        TestQuantizer.appendHalf(0.25, to: &q4_1)
        TestQuantizer.appendHalf(-1, to: &q4_1)
        for i in 0..<16 { q4_1.append(UInt8(i | ((15 - i) << 4))) }
        var expected4_1: [Float] = []
        for i in 0..<16 { expected4_1.append(Float(i) * 0.25 - 1) }
        for i in 0..<16 { expected4_1.append(Float(15 - i) * 0.25 - 1) }
        #expect(Self.dequantize(q4_1, type: .q4_1, rows: 1, columns: 32) == expected4_1)

        // Q8_0: d = 2; value = q * d.
        var q8_0: [UInt8] = []
        TestQuantizer.appendHalf(2, to: &q8_0)
        for i in 0..<32 { q8_0.append(UInt8(bitPattern: Int8(i - 16))) }
        #expect(Self.dequantize(q8_0, type: .q8_0, rows: 1, columns: 32) == (0..<32).map { Float($0 - 16) * 2 })

        // F16 and BF16.
        let halves: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7C00]
        let f16 = halves.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        #expect(Self.dequantize(f16, type: .f16, rows: 1, columns: 4) == [1, -2, 5.9604645e-8, .infinity])
        let brains: [UInt16] = [0x3F80, 0xC040]
        let bf16 = brains.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        #expect(Self.dequantize(bf16, type: .bf16, rows: 1, columns: 2) == [1, -3])
    }

    @Test("half conversion round trip")
    func halfConversionRoundTrip() {
        for bits in UInt16(0)...UInt16.max {
            let value = sk_fp16_to_fp32(bits)
            if value.isNaN { continue }
            #expect(sk_fp32_to_fp16(value) == bits, "half \(bits)")
        }
        #expect(sk_fp32_to_fp16(65520) == 0x7C00)
        #expect(sk_fp32_to_fp16(65519) == 0x7BFF)
        #expect(sk_fp32_to_fp16(1 + 1.0 / 2048) == 0x3C00)  // a tie rounds to even
    }

    @Test("activation quantization", arguments: [false, true])
    func activationQuantization(portable: Bool) {
        kernelSelectionLock.lock()
        defer { kernelSelectionLock.unlock() }
        let previous = sk_set_portable_only(portable ? 1 : 0)
        defer { sk_set_portable_only(previous) }
        var random = TestRandom(seed: 7)
        let columns = 96
        var x = random.floats(2 * columns, scale: 3)
        x[5] = 40  // one large value in the first block
        for i in 64..<96 { x[i] = 0 }  // an all-zero block
        let quantized = Self.quantizeActivations(x, rows: 2, columns: columns)
        let restored = quantized.dequantized(rows: 2, columns: columns)

        for i in 0..<x.count {
            let scale = quantized.scales[(i / columns) * quantized.scaleStride + (i % columns) / 32]
            // The scale is stored rounded to FP16, as ggml stores it, which adds a relative error of up to 2^-11.
            #expect(abs(restored[i] - x[i]) <= scale * 0.5 + abs(x[i]) * 1e-3 + 1e-6, "element \(i)")
        }
        #expect(quantized.values[5] == 127)
        #expect(quantized.scales[2] == 0)
        #expect(quantized.sums[2] == 0)
        // Padding of the scale rows (3 blocks rounded up to 8) is zero.
        #expect(quantized.scales[3..<8].allSatisfy { $0 == 0 })
        let sum = quantized.values[0..<32].reduce(0) { $0 + Int($1) }
        #expect(abs(quantized.sums[0] - quantized.scales[0] * Float(sum)) <= abs(quantized.sums[0]) * 1e-3)
    }

    @Test(
        "quantized matmul matches float",
        arguments: [GGMLType.q4_0, .q4_1, .q8_0], [1, 2, 3, 5, 8, 37])
    func quantizedMatmulMatchesFloat(type: GGMLType, batch: Int) throws {
        var random = TestRandom(seed: UInt64(type.rawValue) * 100 + UInt64(batch))
        let rows = 70  // not a multiple of 4, to cover the one-row tail
        let columns = 96
        let weightValues = random.floats(rows * columns)
        let weights = TestQuantizer.quantize(weightValues, type: type)
        let w = Self.dequantize(weights, type: type, rows: rows, columns: columns)
        let x = random.floats(batch * columns, scale: 2)
        let activations = Self.quantizeActivations(x, rows: batch, columns: columns)
        let xq = activations.dequantized(rows: batch, columns: columns)

        let pool = try #require(sk_pool_create(2, 50))
        defer { sk_pool_destroy(pool) }

        for portable in [false, true] {
            kernelSelectionLock.lock()
            let previous = sk_set_portable_only(portable ? 1 : 0)
            let output = Self.multiply(
                weights: weights, type: type, rows: rows, columns: columns, activations: activations, batch: batch,
                pool: pool)
            sk_set_portable_only(previous)
            kernelSelectionLock.unlock()

            for b in 0..<batch {
                for n in 0..<rows {
                    var expected: Double = 0
                    var magnitude: Double = 0
                    for k in 0..<columns {
                        expected += Double(w[n * columns + k]) * Double(xq[b * columns + k])
                        magnitude += abs(Double(w[n * columns + k]) * Double(xq[b * columns + k]))
                    }
                    // The kernels use the F16-rounded block sums, which are off by up to 2^-11 relative.
                    let tolerance = magnitude * 1e-3 + 1e-4
                    let actual = Double(output[b * rows + n])
                    #expect(
                        abs(actual - expected) <= tolerance,
                        "\(type) portable=\(portable) b=\(b) n=\(n): \(actual) vs \(expected)")
                }
            }
        }
    }
}
