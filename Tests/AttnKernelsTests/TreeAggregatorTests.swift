@testable import AttnKernels
import XCTest

/// ReTreever's Transformer aggregator with and without backpropagation through the tree
/// (retreever(bptt=)): the same summaries either way; with bptt=false no gradient reaches the
/// context through them, while the block itself still learns.
final class TreeAggregatorTests: XCTestCase {
    func summariesAndGradients(backpropagating: Bool) throws -> (summaries: Tensor, context: Tensor?, block: [String: Tensor]) {
        var store = ParameterStore(), rng = Xoshiro256(seed: 3)
        let block = try TransformerBlock("aggregator", dim: 8, heads: 2, &store, &rng)
        // Two functions of 16 points each (leaves of 4: depth 2).
        let x = try Tensor.randn([32], rng: &rng).data
        let tree = try TreeRetrieval(contextX: x, contextCount: 16, leafSize: 4, count: 2)
        let p = store.bind(to: Tape())
        let context = p.tape.leaf(try Tensor.randn([32, 8], rng: &rng))
        let summaries = try tree.transformerSummaries(context, block: block, backpropagating: backpropagating, p)
        let loss = try p.tape.sum(try p.tape.multiply(summaries, summaries))
        let all = try p.tape.gradients(of: loss)
        var blockGradients = [String: Tensor]()
        for (name, variable) in p.variables { if let g = all[variable] { blockGradients[name] = g } }
        return (p.tape.value(summaries), all[context], blockGradients)
    }

    func testWithoutTreeBackpropagationNothingReachesTheContext() throws {
        let full = try summariesAndGradients(backpropagating: true), cut = try summariesAndGradients(backpropagating: false)
        XCTAssertEqual(full.summaries.shape, [2 * (2 + 4), 8])
        XCTAssertEqual(cut.summaries.data, full.summaries.data)
        // Through the tree, the context's gradient is real; cut, there is none (or only zeros).
        let fullContext = try XCTUnwrap(full.context)
        XCTAssertGreaterThan(fullContext.data.map(abs).max() ?? 0, 0)
        XCTAssertEqual(cut.context?.data.map(abs).max() ?? 0, 0)
        // The block learns either way, from different paths: its gradients are finite, nonzero,
        // and not those of full backpropagation (the upper levels no longer pass theirs down).
        XCTAssertEqual(Set(cut.block.keys), Set(full.block.keys))
        XCTAssertFalse(cut.block.isEmpty)
        var differs = false
        for (name, g) in cut.block {
            XCTAssertTrue(g.data.allSatisfy(\.isFinite), name)
            if g.data != full.block[name]?.data { differs = true }
        }
        XCTAssertTrue(differs)
        XCTAssertGreaterThan(cut.block.values.map { $0.data.map(abs).max() ?? 0 }.max() ?? 0, 0)
    }

    func testModelsDifferOnlyInGradients() throws {
        let gp = try GaussianProcessTask(context: 16, targets: 4)
        let cut = try NeuralProcess.make(retrieval: .tca, dim: 8, layers: 1, heads: 2, latents: 1, leaf: 2, aggregation: .transformer,
                                         treeBackprop: false, seed: 9)
        let full = try NeuralProcess.make(retrieval: .tca, dim: 8, layers: 1, heads: 2, latents: 1, leaf: 2, aggregation: .transformer, seed: 9)
        XCTAssertTrue(cut.architecture.summary.contains("bptt=false"), cut.architecture.summary)
        XCTAssertTrue(full.architecture.summary.contains("bptt=true"), full.architecture.summary)
        let a = try Trainer.evaluate(cut, on: gp, examples: 8, batchSize: 8, seed: 1)
        let b = try Trainer.evaluate(full, on: gp, examples: 8, batchSize: 8, seed: 1)
        XCTAssertEqual(a.loss, b.loss)
    }
}
