import Foundation

// The fast path of `attention`: a FlashAttention-style loop on the GEMM micro-kernel.
// For each work item (head, block of query rows) and each block of keys:
//   S = (scale * log2 e) Q K^T          micro-kernel over packed K^T panels
//   m_new = max(m, rowmax S); P = 2^(S - m_new); l = l 2^(m - m_new) + rowsum P
//   O = O 2^(m - m_new) + P V           micro-kernel with P as A and V as B
// and finally out = O / l. Working in base 2 folds log2(e) into the scale so the softmax needs
// only FastExp.exp2. The score matrix exists only one block at a time (queryBlock x keyBlock).
// K^T and V are packed once per call (O(N d), like the inputs), zero-padded to the tile width;
// padded keys are masked with -inf, so they contribute exactly nothing.
// Work items are a fixed partition and every element is computed in a fixed order that does not
// depend on the tile shape (padding adds exact zeros), so results are identical for any thread
// count and on AVX2 and AVX-512 machines alike.
enum FlashAttention {
    static let keyBlock = 256

    static func run(q: Tensor, k: Tensor, v: Tensor, out: inout Tensor, heads: Int, scale: Float, causal: Bool, shape: TileShape = .host) throws {
        let m = q.shape[0], n = k.shape[0], dim = q.shape[1], dimV = v.shape[1]
        let headDim = dim / heads, headDimV = dimV / heads
        let width = shape.columns
        let paddedKeys = (n + width - 1) / width * width
        let paddedDimV = max(width, (headDimV + width - 1) / width * width)
        let queryBlock = shape.rows * 8
        let paddedHeadDim = max(headDim, 1)
        // Packed K^T and V for all heads, plus per-thread scratch, must fit the memory limit.
        let packedCount = heads * paddedKeys * (paddedHeadDim + paddedDimV)
        let scratchCount = queryBlock * (paddedHeadDim + keyBlock + paddedDimV + 2)
        try MemoryLimit.reserve(packedCount + Parallel.threadCount * scratchCount)

        let packedKT = UnsafeMutablePointer<Float>.allocate(capacity: heads * paddedKeys * paddedHeadDim)
        let packedV = UnsafeMutablePointer<Float>.allocate(capacity: heads * paddedKeys * paddedDimV)
        defer { packedKT.deallocate(); packedV.deallocate() }
        k.data.withUnsafeBufferPointer { kb in
            v.data.withUnsafeBufferPointer { vb in
                guard let kp = kb.baseAddress, let vp = vb.baseAddress else { return }
                pack(k: kp, v: vp, n: n, dim: dim, dimV: dimV, heads: heads, headDim: headDim, headDimV: headDimV,
                     width: width, paddedKeys: paddedKeys, paddedHeadDim: paddedHeadDim, paddedDimV: paddedDimV,
                     kt: packedKT, vPadded: packedV)
            }
        }
        let blocksPerHead = (m + queryBlock - 1) / queryBlock
        let log2e: Float = 1.4426950408889634
        q.data.withUnsafeBufferPointer { qb in
            out.data.withUnsafeMutableBufferPointer { ob in
                guard let qp = qb.baseAddress, let op = ob.baseAddress else { return }
                let job = Job(q: qp, out: op, kt: packedKT, v: packedV, m: m, n: n, dim: dim, dimV: dimV,
                              headDim: headDim, headDimV: headDimV, paddedHeadDim: paddedHeadDim, paddedDimV: paddedDimV,
                              paddedKeys: paddedKeys, queryBlock: queryBlock, scale: scale * log2e, causal: causal, shape: shape)
                Parallel.forEach(chunks: heads * blocksPerHead) { item in
                    if Cancellation.isRequested { return }
                    job.run(head: item / blocksPerHead, rowStart: (item % blocksPerHead) * queryBlock)
                }
            }
        }
    }

    /// K^T per head as panels of `width` keys ([headDim][width] each); V per head as
    /// [paddedKeys][paddedDimV]. Padding is zero.
    static func pack(k: UnsafePointer<Float>, v: UnsafePointer<Float>, n: Int, dim: Int, dimV: Int, heads: Int,
                     headDim: Int, headDimV: Int, width: Int, paddedKeys: Int, paddedHeadDim: Int, paddedDimV: Int,
                     kt: UnsafeMutablePointer<Float>, vPadded: UnsafeMutablePointer<Float>) {
        kt.update(repeating: 0, count: heads * paddedKeys * paddedHeadDim)
        vPadded.update(repeating: 0, count: heads * paddedKeys * paddedDimV)
        Parallel.forEach(chunks: heads) { h in
            let ktHead = kt + h * paddedKeys * paddedHeadDim
            let vHead = vPadded + h * paddedKeys * paddedDimV
            for key in 0..<n {
                let panel = ktHead + (key / width) * paddedHeadDim * width + key % width
                let source = k + key * dim + h * headDim
                for c in 0..<headDim { panel[c * width] = source[c] }
                (vHead + key * paddedDimV).update(from: v + key * dimV + h * headDimV, count: headDimV)
            }
        }
    }

    struct Job: @unchecked Sendable {
        let q: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
        let kt: UnsafeMutablePointer<Float>
        let v: UnsafeMutablePointer<Float>
        let m, n, dim, dimV, headDim, headDimV, paddedHeadDim, paddedDimV, paddedKeys, queryBlock: Int
        let scale: Float
        let causal: Bool
        let shape: TileShape

        func run(head: Int, rowStart: Int) {
            let rows = min(queryBlock, m - rowStart)
            let paddedRows = (rows + shape.rows - 1) / shape.rows * shape.rows
            let width = shape.columns
            let keyBlock = FlashAttention.keyBlock
            let qBlock = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows * paddedHeadDim)
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows * keyBlock)
            let acc = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows * paddedDimV)
            let runningMax = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows)
            let runningSum = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows)
            defer {
                qBlock.deallocate(); scores.deallocate(); acc.deallocate()
                runningMax.deallocate(); runningSum.deallocate()
            }
            qBlock.update(repeating: 0, count: paddedRows * paddedHeadDim)
            for r in 0..<rows {
                let source = q + (rowStart + r) * dim + head * headDim
                for c in 0..<headDim { qBlock[r * paddedHeadDim + c] = source[c] * scale }
            }
            acc.update(repeating: 0, count: paddedRows * paddedDimV)
            runningMax.update(repeating: -.infinity, count: paddedRows)
            runningSum.update(repeating: 0, count: paddedRows)
            let ktHead = kt + head * paddedKeys * paddedHeadDim
            let vHead = v + head * paddedKeys * paddedDimV

            let keyEnd = causal ? rowStart + rows : n
            var keyStart = 0
            while keyStart < keyEnd {
                let count = min(keyBlock, keyEnd - keyStart)
                let paddedCount = (count + width - 1) / width * width
                // S = Q K^T for this block of keys.
                var strip = 0
                while strip < paddedRows {
                    for panel in 0..<(paddedCount / width) {
                        MicroKernel.tile(shape, k: headDim, a: qBlock + strip * paddedHeadDim, lda: paddedHeadDim,
                                         b: ktHead + ((keyStart / width) + panel) * paddedHeadDim * width, ldb: width,
                                         c: scores + strip * keyBlock + panel * width, ldc: keyBlock, accumulate: false)
                    }
                    strip += shape.rows
                }
                for r in 0..<paddedRows {
                    let row = scores + r * keyBlock
                    // Keys past the end (padding) and, when causal, after the query are masked.
                    let visible = causal ? min(count, max(0, rowStart + r + 1 - keyStart)) : count
                    if visible < paddedCount { (row + visible).update(repeating: -.infinity, count: paddedCount - visible) }
                    softmaxStep(row: row, count: paddedCount, runningMax: runningMax + r, runningSum: runningSum + r,
                                acc: acc + r * paddedDimV, accWidth: paddedDimV)
                }
                // O += P V.
                strip = 0
                while strip < paddedRows {
                    for panel in 0..<(paddedDimV / width) {
                        MicroKernel.tile(shape, k: paddedCount, a: scores + strip * keyBlock, lda: keyBlock,
                                         b: vHead + keyStart * paddedDimV + panel * width, ldb: paddedDimV,
                                         c: acc + strip * paddedDimV + panel * width, ldc: paddedDimV, accumulate: true)
                    }
                    strip += shape.rows
                }
                keyStart += count
            }
            for r in 0..<rows {
                let destination = out + (rowStart + r) * dimV + head * headDimV
                let inverse = 1 / runningSum[r]
                for c in 0..<headDimV { destination[c] = acc[r * paddedDimV + c] * inverse }
            }
        }

        /// Online softmax for one row of one key block: scores become probabilities 2^(s - m_new),
        /// and the row's running sum and accumulator are rescaled by 2^(m_old - m_new).
        @inline(__always)
        func softmaxStep(row: UnsafeMutablePointer<Float>, count: Int, runningMax: UnsafeMutablePointer<Float>,
                         runningSum: UnsafeMutablePointer<Float>, acc: UnsafeMutablePointer<Float>, accWidth: Int) {
            typealias V = SIMD8<Float>
            @inline(__always) func load8(_ p: UnsafeMutablePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
            var blockMax = V(repeating: -.infinity)
            var j = 0
            while j < count {
                let scores = load8(row + j)
                blockMax = blockMax.replacing(with: scores, where: scores .> blockMax)
                j += 8
            }
            let newMax = max(runningMax.pointee, blockMax.max())
            // A row with nothing visible yet keeps m = -inf; its probabilities are all 0.
            let shift = newMax == -.infinity ? 0 : newMax
            let correction = FastExp.exp2(runningMax.pointee - shift)
            runningMax.pointee = newMax
            var sum = V()
            let shiftVector = V(repeating: shift)
            j = 0
            while j < count {
                let p = FastExp.exp2(load8(row + j) - shiftVector)
                UnsafeMutableRawPointer(row + j).storeBytes(of: p, as: V.self)
                sum += p
                j += 8
            }
            runningSum.pointee = runningSum.pointee * correction + sum.sum()
            if correction != 1 {
                let factor = Vector16(repeating: correction)
                var c = 0
                while c < accWidth {
                    MicroKernel.store(MicroKernel.load(acc + c) * factor, acc + c)
                    c += 16
                }
            }
        }
    }
}
