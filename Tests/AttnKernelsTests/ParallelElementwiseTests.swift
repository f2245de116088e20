@testable import AttnKernels
import Foundation
import XCTest

/// The parallel elementwise loops against one plain loop over every element, on sizes that span
/// several chunks with a partial last one, and with a bias row that does not divide a chunk.
final class ParallelElementwiseTests: XCTestCase {
    func testEqualShapesAndRowsMatchOnePlainLoop() throws {
        let count = 3 * ParallelElementwise.chunkSize + 77
        let a = try random([count], seed: 1), b = try random([count], seed: 2)
        for op in [BinaryOp.add, .sub, .mul] {
            let expected = (0..<count).map { op.apply(a.data[$0], b.data[$0]) }
            XCTAssertEqual(try a.binary(op, b).data, expected, op.rawValue)
        }
        let cols = 300, rows = (2 * ParallelElementwise.chunkSize) / cols + 5
        let matrix = try random([rows, cols], seed: 3), bias = try random([cols], seed: 4)
        for op in [BinaryOp.add, .sub, .mul] {
            let expected = (0..<(rows * cols)).map { op.apply(matrix.data[$0], bias.data[$0 % cols]) }
            let result = try matrix.binary(op, bias)
            XCTAssertEqual(result.shape, [rows, cols])
            XCTAssertEqual(result.data, expected, op.rawValue)
        }
        XCTAssertEqual(try Tensor(zeros: [4, 0]).binary(.add, try Tensor(zeros: [0])).shape, [4, 0])
    }

    func testInPlaceAddLeavesSharedCopiesAlone() throws {
        let count = ParallelElementwise.chunkSize + 3
        var a = try random([count], seed: 5)
        let before = a, b = try random([count], seed: 6)
        try a.add(b)
        XCTAssertEqual(a.data, (0..<count).map { before.data[$0] + b.data[$0] })
        XCTAssertEqual(before, try random([count], seed: 5))
        XCTAssertThrowsError(try a.add(try random([count - 1], seed: 7)))
    }
}
