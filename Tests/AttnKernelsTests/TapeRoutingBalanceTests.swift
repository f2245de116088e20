import AttnKernels
import XCTest

/// The routing balance term of learned trees: its value on even and lopsided splits, its
/// gradient against finite differences, and its place in a model's training loss.
extension TapeTests {
    func testRoutingBalanceIsZeroForEvenSplitsAndPositiveOtherwise() throws {
        let t = Tape()
        let tree = LearnedTree(normals: t.leaf(try Tensor(shape: [1, 2], data: [1, 0])), offsets: t.leaf(try Tensor(zeros: [1])), depth: 1)
        // Mirror-image rows: the mean probability of going right is exactly 1/2.
        let even = t.leaf(try Tensor(shape: [4, 2], data: [2, 1, -2, 1, 0.5, 0, -0.5, 3]))
        XCTAssertEqual(t.value(try t.routingBalance(even, through: tree)).data[0], 0, accuracy: 1e-7)
        // All rows to the right: (mean sigmoid(s) - 1/2)^2, the root's weight being 1.
        let lopsided = t.leaf(try Tensor(shape: [2, 2], data: [1, 0, 3, 0]))
        let expected = pow((1 / (1 + exp(-1.0)) + 1 / (1 + exp(-3.0))) / 2 - 0.5, 2)
        XCTAssertEqual(Double(t.value(try t.routingBalance(lopsided, through: tree)).data[0]), expected, accuracy: 1e-6)
        // Only the hyperplanes get a gradient.
        let gradients = try t.gradients(of: try t.routingBalance(lopsided, through: tree))
        XCTAssertNil(gradients[lopsided])
        XCTAssertNotNil(gradients[tree.offsets])
    }

    func testRoutingBalanceGradientsMatchFiniteDifferences() throws {
        let z = try random([24, 3], seed: 51)
        try check("routing balance", [try random([3, 3], seed: 52), try random([3], seed: 53)]) { t, v in
            try t.routingBalance(t.leaf(z), through: LearnedTree(normals: v[0], offsets: v[1], depth: 2))
        }
    }

    func testBalanceWeighsIntoTheTrainingLossOnly() throws {
        let task = try ListOpsTask(length: 16, depth: 1, arguments: 3)
        XCTAssertThrowsError(try SequenceTransformer.make(vocabulary: 17, classes: 10, dim: 8, layers: 1, heads: 2, maxLength: 16,
                                                          mixer: .tf, projected: 0, leaf: 4, split: .pca, balance: 1, seed: 1))
        // log_count likewise needs node means (TC or TF + TC) to weigh.
        XCTAssertThrowsError(try SequenceTransformer.make(vocabulary: 17, classes: 10, dim: 8, layers: 1, heads: 2, maxLength: 16,
                                                          mixer: .tf, projected: 0, leaf: 4, logCount: true, seed: 1))
        let model = try SequenceTransformer.make(vocabulary: 17, classes: 10, dim: 8, layers: 2, heads: 2, maxLength: 16,
                                                 mixer: .tf, projected: 0, leaf: 4, split: .learned, balance: 0.5, seed: 1)
        XCTAssertTrue(model.architecture.summary.contains("balance=0.5"), model.architecture.summary)
        var rng = Xoshiro256(seed: 2)
        let batch = try task.batch(size: 4, rng: &rng)
        func loss(training: Bool) throws -> Float {
            var passRng = Xoshiro256(seed: 3)
            let p = model.parameters.bind(to: Tape())
            return p.tape.value(try model.architecture.pass(batch, p, training: training, rng: &passRng).loss).data[0]
        }
        // The task loss is the same in both modes (hard routes, no dropout); training adds
        // 0.5 times the two trees' balance terms, which a random tree does not zero.
        XCTAssertGreaterThan(try loss(training: true), try loss(training: false))
    }
}
