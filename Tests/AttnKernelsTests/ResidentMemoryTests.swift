import AttnKernels
import XCTest

final class ResidentMemoryTests: XCTestCase {
    /// A 64 MiB buffer written in full must show up whole; nothing allocated must show (almost) nothing;
    /// and a buffer freed before the next measurement must not hide the next one's pages.
    func testPeakCountsWhatTheBodyTouches() throws {
        let big = 16 << 20  // floats: 64 MiB
        let first = try ResidentMemory.measurePeak { () -> Float in
            var buffer = [Float](repeating: 1, count: big)
            buffer[big - 1] = 2
            return buffer.reduce(0, +)
        }
        XCTAssertGreaterThanOrEqual(first.peakBytes, 63 << 20)
        XCTAssertLessThan(first.peakBytes, 80 << 20)

        let again = try ResidentMemory.measurePeak { [Float](repeating: 3, count: big).count }
        XCTAssertGreaterThanOrEqual(again.peakBytes, 63 << 20, "freed pages were reused unseen")

        let nothing = try ResidentMemory.measurePeak { 1 + 1 }
        XCTAssertEqual(nothing.value, 2)
        XCTAssertLessThan(nothing.peakBytes, 4 << 20)
    }
}
