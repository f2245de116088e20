import AttnKernels
import Foundation
import XCTest

final class NumpyFileTests: XCTestCase {
    /// Fixtures written by NumPy 2.4 (`np.save`), so the reader is checked against the real format.
    func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures").appendingPathComponent(name).path
    }

    func testReadsFloat32AndFloat64() throws {
        let a = try NumpyFile.load(path: fixture("f4_3x4.npy"))
        XCTAssertEqual(a.shape, [3, 4])
        XCTAssertEqual(a.data, (0..<12).map { Float($0) / 4 - 1 })
        let b = try NumpyFile.load(path: fixture("f8_2x3.npy"))
        XCTAssertEqual(b.shape, [2, 3])
        for i in 0..<6 { XCTAssertEqual(b.data[i], Float(Double(i) * 0.1), accuracy: 1e-7) }
    }

    func testRejectsWhatItCannotRead() throws {
        for (name, fragment) in [("fortran_3x4.npy", "Fortran order"), ("i4_5.npy", "'<i4'"), ("bigendian_4.npy", "'>f4'"),
                                 ("scalar.npy", "rank 1 to 4"), ("rank5.npy", "rank 1 to 4")] {
            XCTAssertThrowsError(try NumpyFile.load(path: fixture(name)), name) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(name): \(error)")
            }
        }
        XCTAssertThrowsError(try NumpyFile.load(path: fixture("missing.npy")))
        XCTAssertThrowsError(try NumpyFile.decode(Array("not a numpy file".utf8)))
        var truncated = NumpyFile.encode(try Tensor(shape: [4], data: [1, 2, 3, 4]))
        truncated.removeLast(3)
        XCTAssertThrowsError(try NumpyFile.decode(truncated)) { error in
            XCTAssertTrue("\(error)".contains("data bytes"), "\(error)")
        }
    }

    func testRoundTripAndHeaderAlignment() throws {
        var rng = Xoshiro256(seed: 3)
        for shape in [[7], [2, 3], [2, 1, 5], [1, 2, 3, 4]] {
            let t = try Tensor.randn(shape, rng: &rng)
            let bytes = NumpyFile.encode(t)
            let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            XCTAssertEqual((10 + headerLength) % 64, 0)
            XCTAssertEqual(try NumpyFile.decode(bytes), t)
        }
    }
}
