@testable import AttnKernels
import XCTest

final class TensorOpsTests: XCTestCase {
    /// Layer normalisation runs eight rows per vector: each row gets the bits it gets alone.
    func testLayerNormRowsMatchOneRowAtATime() throws {
        var rng = Xoshiro256(seed: 11)
        let x = try Tensor.randn([19, 37], rng: &rng)
        let (all, inverses) = TransformerEncoder.normalizedRows(x)
        for r in 0..<19 {
            let (alone, inverse) = TransformerEncoder.normalizedRows(try x.rows(r, 1))
            XCTAssertEqual(try all.rows(r, 1).data, alone.data, "row \(r)")
            XCTAssertEqual(inverses[r], inverse[0], "row \(r)")
        }
    }

    func testMatmulMatchesReferenceOnOddShapes() throws {
        var rng = Xoshiro256(seed: 5)
        for (m, k, n) in [(1, 1, 1), (3, 7, 5), (33, 65, 17), (64, 300, 40), (1, 20, 1)] {
            let a = try Tensor.randn([m, k], rng: &rng), b = try Tensor.randn([k, n], rng: &rng)
            guard case let .tensor(c) = try a.matmul(b) else { return XCTFail("expected a tensor") }
            XCTAssertEqual(c.shape, [m, n])
            XCTAssertLessThan(Reference.relativeError(c.data, Reference.matmul(a.data, b.data, m: m, k: k, n: n)), 1e-5)
        }
    }

    func testMatmulVectorAndBatchForms() throws {
        let v = try Tensor(shape: [3], data: [1, 2, 3])
        XCTAssertEqual(try v.matmul(v), .scalar(14))
        let m = try Tensor(shape: [2, 3], data: [1, 0, 0, 0, 1, 1])
        XCTAssertEqual(try m.matmul(v), .tensor(try Tensor(shape: [2], data: [1, 5])))
        XCTAssertEqual(try v.matmul(m.transposed()), .tensor(try Tensor(shape: [2], data: [1, 5])))
        let batch = try Tensor(shape: [2, 1, 3], data: [1, 1, 1, 2, 2, 2])
        XCTAssertEqual(try batch.matmul(try v.reshaped([3, 1])), .tensor(try Tensor(shape: [2, 1, 1], data: [6, 12])))
        XCTAssertThrowsError(try m.matmul(m))
    }

    func testBroadcasting() throws {
        let a = try Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let row = try Tensor(shape: [3], data: [10, 20, 30])
        let column = try Tensor(shape: [2, 1], data: [100, 200])
        XCTAssertEqual(try a.binary(.add, row).data, [11, 22, 33, 14, 25, 36])
        XCTAssertEqual(try a.binary(.sub, row).data, [-9, -18, -27, -6, -15, -24])
        XCTAssertEqual(try a.binary(.mul, row).data, [10, 40, 90, 40, 100, 180])
        XCTAssertEqual(try a.binary(.div, row).data, [0.1, 0.1, 0.1, 0.4, 0.25, 0.2])
        XCTAssertEqual(try a.binary(.mul, column).data, [100, 200, 300, 800, 1000, 1200])
        XCTAssertEqual(try row.binary(.add, column).shape, [2, 3])
        XCTAssertThrowsError(try a.binary(.add, try Tensor(zeros: [2])))
        XCTAssertEqual(a.scalarOp(.sub, 1, scalarOnLeft: true).data, [0, -1, -2, -3, -4, -5])
        XCTAssertEqual(try Tensor(shape: [2], data: [-7, 7]).scalarOp(.mod, 3).data, [2, 1])
    }

    func testReductionsAndSoftmax() throws {
        let a = try Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try a.reduceAll(.sum), 21)
        XCTAssertEqual(try a.reduce(.sum, axis: 0)?.data, [5, 7, 9])
        XCTAssertEqual(try a.reduce(.max, axis: -1)?.data, [3, 6])
        XCTAssertEqual(try a.reduce(.mean, axis: 1)?.data, [2, 5])
        XCTAssertNil(try Tensor(shape: [3], data: [1, 2, 3]).reduce(.sum, axis: 0))
        XCTAssertThrowsError(try a.reduce(.sum, axis: 2))
        let s = try a.softmax(axis: 1)
        for row in 0..<2 { XCTAssertEqual(s.data[row * 3..<row * 3 + 3].reduce(0, +), 1, accuracy: 1e-6) }
        XCTAssertEqual(Double(s.data[2]), exp(3) / (exp(1) + exp(2) + exp(3)), accuracy: 1e-6)
        XCTAssertEqual(try a.softmax(axis: 0).data[0], Float(1 / (1 + exp(3.0))), accuracy: 1e-6)
    }

    func testTransposeConcatAndIndexing() throws {
        let a = try Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try a.transposed().data, [1, 4, 2, 5, 3, 6])
        // The blocked matrix path on sizes that are not multiples of its 32 x 32 blocks.
        for (rows, cols) in [(1, 1), (33, 70), (70, 33), (64, 1)] {
            let m = try Tensor(shape: [rows, cols], data: (0..<(rows * cols)).map(Float.init))
            let t = try m.transposed()
            XCTAssertEqual(t.shape, [cols, rows])
            XCTAssertTrue((0..<rows).allSatisfy { r in (0..<cols).allSatisfy { c in t.data[c * rows + r] == m.data[r * cols + c] } }, "\(rows) x \(cols)")
        }
        // Column sums (a bias's gradient) are reduce(.sum, axis: 0): to the bit within one block
        // of 256 rows; across blocks (Double partials added in block order) to float rounding.
        var rng = Xoshiro256(seed: 3)
        let g = try Tensor.randn([37, 11], rng: &rng)
        XCTAssertEqual(try g.columnSums(), try XCTUnwrap(try g.reduce(.sum, axis: 0)))
        let tall = try Tensor.randn([600, 11], rng: &rng)
        let sums = try tall.columnSums(), reference = try XCTUnwrap(try tall.reduce(.sum, axis: 0))
        for c in 0..<11 { XCTAssertEqual(sums.data[c], reference.data[c], accuracy: 1e-5 * max(1, abs(reference.data[c]))) }
        let cube = try Tensor(shape: [2, 2, 2], data: (0..<8).map(Float.init))
        XCTAssertEqual(try cube.transposed(axes: [0, 2, 1]).data, [0, 2, 1, 3, 4, 6, 5, 7])
        XCTAssertEqual(try Tensor.concat([a, a], axis: 1).data, [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
        XCTAssertEqual(try Tensor.concat([try Tensor(zeros: [0, 3]), a, try Tensor(zeros: [0, 3])]), a)
        XCTAssertEqual(try Tensor.concat([try Tensor(zeros: [2, 0]), try Tensor(zeros: [2, 0])], axis: 1).shape, [2, 0])
        XCTAssertThrowsError(try Tensor.concat([a, cube]))
        XCTAssertEqual(try a.indexed([.index(1)]), .tensor(try Tensor(shape: [3], data: [4, 5, 6])))
        XCTAssertEqual(try a.indexed([.range(start: nil, stop: nil, step: nil), .index(-1)]), .tensor(try Tensor(shape: [2], data: [3, 6])))
        XCTAssertEqual(try a.indexed([.index(1), .index(2)]), .scalar(6))
        XCTAssertEqual(try a.indexed([.range(start: nil, stop: nil, step: nil), .range(start: nil, stop: nil, step: -2)]),
                       .tensor(try Tensor(shape: [2, 2], data: [3, 1, 6, 4])))
        XCTAssertThrowsError(try a.indexed([.index(2)]))
        XCTAssertThrowsError(try a.indexed([.index(0), .index(0), .index(0)]))
    }

    func testSliceResolutionFollowsPython() throws {
        // Expected values from Python's slice(start, stop, step).indices(10) and len(range(...)).
        let cases: [((Int?, Int?, Int?), (Int, Int, Int))] = [
            ((nil, nil, nil), (0, 10, 1)), ((2, 5, nil), (2, 3, 1)), ((-3, nil, nil), (7, 3, 1)),
            ((nil, nil, -1), (9, 10, -1)), ((8, 2, -2), (8, 3, -2)), ((20, 30, nil), (10, 0, 1)), ((nil, -20, nil), (0, 0, 1)),
        ]
        for ((start, stop, step), expected) in cases {
            let r = try resolveSlice(start: start, stop: stop, step: step, length: 10)
            XCTAssertEqual([r.start, r.count, r.step], [expected.0, expected.1, expected.2], "slice \(String(describing: start)):\(String(describing: stop)):\(String(describing: step))")
        }
        XCTAssertThrowsError(try resolveSlice(start: nil, stop: nil, step: 0, length: 3))
    }

    func testMemoryLimitAndShapes() throws {
        XCTAssertThrowsError(try Tensor(zeros: [1 << 20, 1 << 20])) { error in
            guard case .memoryLimit = error as? KernelError else { return XCTFail("expected memoryLimit, got \(error)") }
        }
        XCTAssertThrowsError(try Tensor(zeros: [Int.max, 4]))
        XCTAssertThrowsError(try Tensor(zeros: [1, 1, 1, 1, 1]))
        XCTAssertThrowsError(try Tensor(zeros: [-1]))
        XCTAssertEqual(MemoryLimit.parse("512M"), 512 << 20)
        XCTAssertEqual(MemoryLimit.parse("8GiB"), 8 << 30)
        XCTAssertEqual(MemoryLimit.parse("1000"), 1000)
        XCTAssertNil(MemoryLimit.parse("lots"))
        XCTAssertThrowsError(try Tensor(zeros: [3]).reshaped([2, 2]))
    }

    func testRandomGeneratorIsReproducibleAndNormal() throws {
        var a = Xoshiro256(seed: 42), b = Xoshiro256(seed: 42)
        XCTAssertEqual((0..<5).map { _ in a.next() }, (0..<5).map { _ in b.next() })
        // First draws for seed 0, computed by an independent Python implementation of SplitMix64
        // seeding + xoshiro256**: a change to the generator (which would change every seeded
        // script's numbers) fails here first.
        var c = Xoshiro256(seed: 0)
        XCTAssertEqual((0..<3).map { _ in c.next() }, [11091344671253066420, 13793997310169335082, 1900383378846508768])
        var rng = Xoshiro256(seed: 1)
        let samples = try Tensor.randn([200_000], rng: &rng)
        let mean = try samples.reduceAll(.mean)
        let variance = samples.data.reduce(0.0) { $0 + Double($1) * Double($1) } / 200_000 - mean * mean
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(variance, 1, accuracy: 0.01)
        let uniform = try Tensor.rand([100_000], rng: &rng)
        XCTAssertTrue(uniform.data.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(try uniform.reduceAll(.mean), 0.5, accuracy: 0.01)
    }
}
