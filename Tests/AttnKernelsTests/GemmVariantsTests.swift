@testable import AttnKernels
import Foundation
import XCTest

/// The GEMM's variants (a block of a wider A, A stored transposed, accumulation, the depth split
/// of a one-block product, the unpacked form used inside attention tiles) against the plain
/// reference, and against each other bit for bit where they promise the same additions.
final class GemmVariantsTests: XCTestCase {
    let shapes = [(1, 1, 1), (7, 13, 5), (8, 16, 32), (9, 300, 40), (64, 16, 256), (70, 513, 33), (17, 1000, 3)]

    func reference(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            Gemm.reference(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!, m: m, n: n, k: k)
        } } }
        return c
    }

    func transpose(_ x: [Float], rows: Int, cols: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<rows { for c in 0..<cols { out[c * rows + r] = x[r * cols + c] } }
        return out
    }

    /// A [m, k] stored inside a wider [m, k + 3] matrix, transposed, and with accumulation.
    func testStridedTransposedAndAccumulatingProducts() throws {
        for (index, (m, k, n)) in shapes.enumerated() {
            let a = try random([m, k], seed: UInt64(10 * index)).data, b = try random([k, n], seed: UInt64(10 * index + 1)).data
            let start = try random([m, n], seed: UInt64(10 * index + 2)).data
            let expected = reference(a, b, m: m, n: n, k: k)
            var wide = [Float](repeating: .nan, count: m * (k + 3))
            for r in 0..<m { for p in 0..<k { wide[r * (k + 3) + p] = a[r * k + p] } }
            let aT = transpose(a, rows: m, cols: k)
            for shape in TileShape.allCases {
                var plain = [Float](repeating: .nan, count: m * n), strided = plain, transposed = plain, accumulated = start
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                    Gemm.multiply(pa.baseAddress!, pb.baseAddress!, &plain, m: m, n: n, k: k, shape: shape)
                } }
                wide.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                    Gemm.multiply(pa.baseAddress!, lda: k + 3, pb.baseAddress!, &strided, m: m, n: n, k: k, accumulate: false, shape: shape)
                } }
                aT.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                    Gemm.multiply(pa.baseAddress!, lda: m, aTransposed: true, pb.baseAddress!, &transposed, m: m, n: n, k: k, accumulate: false, shape: shape)
                } }
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                    Gemm.multiply(pa.baseAddress!, lda: k, pb.baseAddress!, &accumulated, m: m, n: n, k: k, accumulate: true, shape: shape)
                } }
                let what = "\(m)x\(k)x\(n) \(shape)"
                XCTAssertLessThan(Reference.relativeError(plain, expected.map(Double.init)), 1e-5, what)
                XCTAssertEqual(strided, plain, what)
                XCTAssertEqual(transposed, plain, what)
                let sums = zip(start, expected).map { Double($0) + Double($1) }
                XCTAssertLessThan(Reference.relativeError(accumulated, sums), 1e-5, what)
            }
        }
    }

    /// A product whose C is one block runs its depth slices in parallel: the same bits as the
    /// one block's serial loop over the slices.
    func testDepthSplitGivesTheSerialBits() throws {
        for (m, k, n) in [(64, 4096, 64), (9, 300, 40), (160, 257, 512), (3, 1000, 1)] {
            let a = try random([m, k], seed: 7).data, b = try random([k, n], seed: 8).data
            for shape in TileShape.allCases {
                var split = [Float](repeating: .nan, count: m * n), serial = split
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                    Gemm.multiply(pa.baseAddress!, pb.baseAddress!, &split, m: m, n: n, k: k, shape: shape)
                    let operands = Gemm.Operands(a: pa.baseAddress!, lda: k, aTransposed: false, b: pb.baseAddress!, m: m, n: n, shape: shape)
                    serial.withUnsafeMutableBufferPointer { operands.block(rows: 0..<m, columns: 0..<n, depth: 0..<k, c: $0.baseAddress!, accumulate: false) }
                } }
                XCTAssertEqual(split, serial, "\(m)x\(k)x\(n) \(shape)")
            }
        }
    }

    /// A product larger than one block packs each depth slice of B once and shares the panels
    /// among its row chunks (GemmSharedPanels.swift): the same bits as the one-block serial loop,
    /// for A plain or stored transposed, overwriting or accumulating, over several column blocks.
    /// With the wide shape the shared path runs full 12-row strips on the 12 x 32 tile and the
    /// serial loop 8-row strips, so this also checks the tall tile and its edges (rows left over
    /// after the last full strip, a last panel narrower than 32, a depth slice of one step).
    func testSharedPanelsGiveTheSerialBits() throws {
        for (m, k, n) in [(200, 300, 129), (9, 40, 600), (170, 513, 1100), (333, 256, 200), (1, 7, 2049)] {
            let a = try random([m, k], seed: 11).data, b = try random([k, n], seed: 12).data, start = try random([m, n], seed: 13).data
            let aT = transpose(a, rows: m, cols: k)
            for shape in TileShape.allCases {
                XCTAssertGreaterThan(n, Gemm.inPlaceMaxColumns)
                XCTAssertTrue(m > Gemm.rowBlock(shape) || n > Gemm.columnBlock, "\(m)x\(k)x\(n) must take the shared path")
                for accumulate in [false, true] {
                    var serial = accumulate ? start : [Float](repeating: .nan, count: m * n), shared = serial, fromTransposed = serial
                    a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                        Gemm.multiply(pa.baseAddress!, lda: k, pb.baseAddress!, &shared, m: m, n: n, k: k, accumulate: accumulate, shape: shape)
                        let operands = Gemm.Operands(a: pa.baseAddress!, lda: k, aTransposed: false, b: pb.baseAddress!, m: m, n: n, shape: shape)
                        serial.withUnsafeMutableBufferPointer {
                            operands.packedBlock(rows: 0..<m, columns: 0..<n, depth: 0..<k, c: $0.baseAddress!, accumulate: accumulate)
                        }
                    } }
                    aT.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                        Gemm.multiply(pa.baseAddress!, lda: m, aTransposed: true, pb.baseAddress!, &fromTransposed, m: m, n: n, k: k,
                                      accumulate: accumulate, shape: shape)
                    } }
                    let what = "\(m)x\(k)x\(n) \(shape) accumulate \(accumulate)"
                    XCTAssertEqual(shared, serial, what)
                    XCTAssertEqual(fromTransposed, serial, what)
                    let expected = reference(a, b, m: m, n: n, k: k).enumerated().map { Double($1) + (accumulate ? Double(start[$0]) : 0) }
                    XCTAssertLessThan(Reference.relativeError(shared, expected), 1e-5, what)
                }
            }
        }
    }

    /// The unpacked product reads A (plain or stored transposed) and B in place (with leading
    /// dimensions wider than the operands here) and gives the packed product's bits.
    func testUnpackedProductGivesThePackedBits() throws {
        for (index, (m, k, n)) in shapes.enumerated() {
            let (lda, ldb, ldc) = (k + 5, n + 7, n + 2)
            let a = try random([m, lda], seed: UInt64(3 * index)).data, b = try random([k, ldb], seed: UInt64(3 * index + 1)).data
            var denseA = [Float](), denseB = [Float]()
            for r in 0..<m { denseA += a[(r * lda)..<(r * lda + k)] }
            for r in 0..<k { denseB += b[(r * ldb)..<(r * ldb + n)] }
            for shape in TileShape.allCases {
                // The packed path, forced (Gemm.multiply itself reads narrow products in place).
                var packed = [Float](repeating: .nan, count: m * n)
                denseA.withUnsafeBufferPointer { pa in denseB.withUnsafeBufferPointer { pb in
                    let operands = Gemm.Operands(a: pa.baseAddress!, lda: k, aTransposed: false, b: pb.baseAddress!, m: m, n: n, shape: shape)
                    packed.withUnsafeMutableBufferPointer { operands.packedBlock(rows: 0..<m, columns: 0..<n, depth: 0..<k, c: $0.baseAddress!, accumulate: false) }
                } }
                var unpacked = [Float](repeating: -7, count: m * ldc)
                Gemm.multiplyUnpacked(a, lda: lda, b, ldb: ldb, &unpacked, ldc: ldc, m: m, n: n, k: k, accumulate: false, shape: shape)
                let what = "\(m)x\(k)x\(n) \(shape)"
                for r in 0..<m {
                    XCTAssertEqual(Array(unpacked[(r * ldc)..<(r * ldc + n)]), Array(packed[(r * n)..<(r * n + n)]), what)
                    // Columns past n are not written.
                    for j in n..<ldc { XCTAssertEqual(unpacked[r * ldc + j], -7, what) }
                }
                // A stored transposed, [k, m + 3], read in place.
                var aT = [Float](repeating: .nan, count: k * (m + 3))
                for r in 0..<m { for p in 0..<k { aT[p * (m + 3) + r] = denseA[r * k + p] } }
                var fromTransposed = [Float](repeating: -7, count: m * ldc)
                Gemm.multiplyUnpacked(aT, lda: m + 3, aTransposed: true, b, ldb: ldb, &fromTransposed, ldc: ldc, m: m, n: n, k: k,
                                      accumulate: false, shape: shape)
                XCTAssertEqual(fromTransposed, unpacked, what)
                var twice = unpacked
                Gemm.multiplyUnpacked(a, lda: lda, b, ldb: ldb, &twice, ldc: ldc, m: m, n: n, k: k, accumulate: true, shape: shape)
                for r in 0..<m { for j in 0..<n { XCTAssertEqual(twice[r * ldc + j], unpacked[r * ldc + j] * 2, accuracy: 1e-4 * max(1, abs(unpacked[r * ldc + j])), what) } }
            }
        }
    }

    func testTransposedMatmulAndItsErrors() throws {
        let x = try random([300, 17], seed: 1), y = try random([300, 5], seed: 2)
        guard case let .tensor(expected) = try x.transposed().matmul(y) else { return XCTFail("matrix expected") }
        XCTAssertEqual(try x.transposedMatmul(y), expected)
        XCTAssertEqual(try Tensor(zeros: [0, 3]).transposedMatmul(try Tensor(zeros: [0, 2])), try Tensor(zeros: [3, 2]))
        XCTAssertThrowsError(try x.transposedMatmul(try random([299, 5], seed: 3)))
        XCTAssertThrowsError(try x.transposedMatmul(try random([300], seed: 3)))
    }
}
