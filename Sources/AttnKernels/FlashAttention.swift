import Foundation

// The fast path of `attention`: a FlashAttention-style loop on the GEMM micro-kernel.
// For each work item (head, block of query rows) and each block of keys:
//   S = (scale * log2 e) Q K^T          micro-kernel over packed K^T panels
//   m_new = max(m, rowmax S); P = 2^(S - m_new); l = l 2^(m - m_new) + rowsum P
//   O = O 2^(m - m_new) + P V           micro-kernel with P as A and V as B
// and finally out = O / l. Working in base 2 folds log2(e) into the scale so the softmax needs
// only FastExp.exp2. The score matrix exists only one block at a time (queryBlock x keyBlock).
// K^T and V are packed once per call (O(N d), like the inputs), zero-padded to the tile width;
// padded keys are masked with -inf, so they contribute exactly nothing. When every key block is
// read by one work item only (all of a head's queries in one block: cross attention, short
// sequences), each item packs its key block just before using it instead, into its own scratch:
// the packed copy then stays in cache and is never written to memory (for 256 queries over 1M
// keys the up-front copy was 512 MiB).
// Few queries over many keys (cross attention over a long context): all queries form one block,
// and the keys are split into a number of ranges fixed by the shapes; each (block, range) item
// keeps its own (m, l, O) and the ranges are merged in order afterwards.
// Work items are a fixed partition and every element is computed in a fixed order that depends
// on neither the thread count nor the tile shape (padding adds exact zeros), so results are
// identical for any thread count and on AVX2 and AVX-512 machines alike.
enum FlashAttention {
    static let keyBlock = 256
    /// Queries up to this many form a single block.
    static let smallQueryCount = 256
    /// Past `smallQueryCount`, a block of queries is this many of the tile's strips.
    static let stripsPerBlock = 8
    /// The 8 x 32 tile's block, which decides whether to split the keys whatever the tile.
    static let wideQueryBlock = TileShape.wide.rows * stripsPerBlock
    /// Keys per range when the keys are split; at most `maxSplits` ranges.
    static let splitLength = 4096
    static let maxSplits = 64
    /// Keys per chunk of parallel packing.
    static let packChunk = 4096

    struct Plan {
        let queryBlock: Int
        let blocksPerHead: Int
        let splits: Int
        let keysPerSplit: Int
    }

    /// Block and split sizes from the shapes alone (never from the thread count).
    static func plan(m: Int, n: Int, heads: Int, causal: Bool, shape: TileShape) -> Plan {
        let roundedM = (m + shape.rows - 1) / shape.rows * shape.rows
        let queryBlock = m <= smallQueryCount ? max(shape.rows, roundedM) : shape.rows * stripsPerBlock
        let blocksPerHead = (m + queryBlock - 1) / queryBlock
        // Whether to split counts the 8 x 32 tile's blocks whatever the tile (the 6 x 16 tile's
        // blocks are smaller), so that both tiles split alike and give the same bits.
        let wideBlocks = m <= smallQueryCount ? 1 : (m + wideQueryBlock - 1) / wideQueryBlock
        var splits = 1
        if !causal && heads * wideBlocks < 8 {
            splits = max(1, min(maxSplits, n / splitLength))
        }
        // Each range is a whole number of key blocks, so blocks stay aligned with the panels.
        let perSplit = ((n + splits - 1) / splits + keyBlock - 1) / keyBlock * keyBlock
        return Plan(queryBlock: queryBlock, blocksPerHead: blocksPerHead, splits: splits, keysPerSplit: max(perSplit, keyBlock))
    }

    /// `logSumExp`, when given ([heads * m]), receives each (head, row)'s natural log-sum-exp of
    /// its scaled scores, for the backward pass.
    static func run(q: Tensor, k: Tensor, v: Tensor, out: inout Tensor, heads: Int, scale: Float, causal: Bool, shape: TileShape = .host,
                    logSumExp: UnsafeMutablePointer<Float>? = nil) throws {
        let m = q.shape[0], n = k.shape[0], dim = q.shape[1], dimV = v.shape[1]
        let headDim = dim / heads, headDimV = dimV / heads
        let width = shape.columns
        let paddedKeys = (n + width - 1) / width * width
        let paddedDimV = max(width, (headDimV + width - 1) / width * width)
        let plan = FlashAttention.plan(m: m, n: n, heads: heads, causal: causal, shape: shape)
        let queryBlock = plan.queryBlock
        let paddedHeadDim = max(headDim, 1)
        let packsPerBlock = plan.blocksPerHead == 1
        // Packed K^T and V for all heads (unless packed per block), per-thread scratch and the
        // split partials must fit.
        let packedCount = packsPerBlock ? 0 : heads * paddedKeys * (paddedHeadDim + paddedDimV)
        let scratchCount = queryBlock * (paddedHeadDim + keyBlock + paddedDimV + 2) + (packsPerBlock ? keyBlock * (paddedHeadDim + paddedDimV) : 0)
        let partialCount = plan.splits > 1 ? heads * plan.splits * plan.blocksPerHead * queryBlock * (paddedDimV + 2) : 0
        try MemoryLimit.reserve(packedCount + Parallel.threadCount * scratchCount + partialCount)

        let packedKT = UnsafeMutablePointer<Float>.allocate(capacity: packsPerBlock ? 0 : heads * paddedKeys * paddedHeadDim)
        let packedV = UnsafeMutablePointer<Float>.allocate(capacity: packsPerBlock ? 0 : heads * paddedKeys * paddedDimV)
        defer { packedKT.deallocate(); packedV.deallocate() }
        let blocksPerHead = plan.blocksPerHead, splits = plan.splits
        let partials = partialCount > 0 ? UnsafeMutablePointer<Float>.allocate(capacity: partialCount) : nil
        defer { partials?.deallocate() }
        let log2e: Float = 1.4426950408889634
        withPointers(q, k, v, &out) { qp, kp, vp, op in
            let keys = KeySource(k: kp, v: vp, n: n, dim: dim, dimV: dimV, headDim: headDim, headDimV: headDimV, width: width,
                                 paddedHeadDim: paddedHeadDim, paddedDimV: paddedDimV)
            if !packsPerBlock {
                keys.packAll(heads: heads, paddedKeys: paddedKeys, kt: packedKT, vPadded: packedV)
            }
            let job = Job(q: qp, out: op, kt: packedKT, v: packedV, keys: packsPerBlock ? keys : nil, partials: partials, logSumExp: logSumExp,
                          m: m, n: n, dim: dim, dimV: dimV,
                          headDim: headDim, headDimV: headDimV, paddedHeadDim: paddedHeadDim, paddedDimV: paddedDimV,
                          paddedKeys: paddedKeys, queryBlock: queryBlock, scale: scale * log2e, causal: causal, shape: shape)
            Parallel.forEach(chunks: heads * blocksPerHead * splits) { item in
                if Cancellation.isRequested { return }
                let split = item % splits, block = (item / splits) % blocksPerHead, head = item / (splits * blocksPerHead)
                let keyStart = split * plan.keysPerSplit
                job.run(head: head, rowStart: block * queryBlock, keyStart: keyStart,
                        keyEnd: min(n, keyStart + plan.keysPerSplit), partial: splits > 1 ? item : nil)
            }
            if splits > 1 && !Cancellation.isRequested {
                Parallel.forEach(chunks: heads * blocksPerHead) { item in
                    job.merge(head: item / blocksPerHead, block: item % blocksPerHead, splits: splits)
                }
            }
        }
    }

    /// The four tensors' storage, for the duration of `body` (empty tensors: nothing to do).
    private static func withPointers(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ out: inout Tensor,
                                     _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        q.data.withUnsafeBufferPointer { qb in
            k.data.withUnsafeBufferPointer { kb in
                v.data.withUnsafeBufferPointer { vb in
                    out.data.withUnsafeMutableBufferPointer { ob in
                        guard let qp = qb.baseAddress, let kp = kb.baseAddress, let vp = vb.baseAddress, let op = ob.baseAddress else { return }
                        body(qp, kp, vp, op)
                    }
                }
            }
        }
    }

    /// K and V as the caller gave them, and how to pack them: K^T per head as panels of `width`
    /// keys ([paddedHeadDim][width] each), V per head as panels of `width` value columns
    /// ([keys][width] each, `panelStride` keys apart), so a tile's B is contiguous (V's rows,
    /// paddedDimV apart, mapped a panel's lines onto half of the L1 cache's sets). Padding is zero.
    struct KeySource: @unchecked Sendable {
        let k: UnsafePointer<Float>
        let v: UnsafePointer<Float>
        let n, dim, dimV, headDim, headDimV, width, paddedHeadDim, paddedDimV: Int

        /// Packs keys first..<last of `head` (first a multiple of `width`; keys past n are
        /// padding) into kt and vPanels, which start at key `first` (of V's first panel).
        func pack(head: Int, first: Int, last: Int, kt: UnsafeMutablePointer<Float>, vPanels: UnsafeMutablePointer<Float>, panelStride: Int) {
            // The padding (keys past n, columns past headDimV) must be 0; whole blocks have none
            // (zeroing them was about 1% of the samples of a long cross attention).
            if last > n || headDim < paddedHeadDim {
                kt.update(repeating: 0, count: (last - first) * paddedHeadDim)
            }
            if last > n || headDimV % width != 0 {
                for panel in 0..<(paddedDimV / width) {
                    (vPanels + panel * panelStride * width).update(repeating: 0, count: (last - first) * width)
                }
            }
            // K^T: whole groups of 8 keys are copied a column at a time, the group's 8 values
            // stored as one vector (packing's share of a long cross attention fell from 6% to 2%).
            let wholeGroups = max(0, min(n, last) - first) / 8
            for group in 0..<wholeGroups {
                let local = group * 8
                (kt + (local / width) * paddedHeadDim * width + local % width)
                    .copyEightRowsTransposed(from: k + (first + local) * dim + head * headDim, rowStride: dim, count: headDim, columnStride: width)
            }
            for key in (first + wholeGroups * 8)..<max(first + wholeGroups * 8, min(n, last)) {
                let local = key - first
                let keyPanel = kt + (local / width) * paddedHeadDim * width + local % width
                let source = k + key * dim + head * headDim
                for c in 0..<headDim { keyPanel[c * width] = source[c] }
            }
            for key in first..<min(n, last) {
                let local = key - first
                let values = v + key * dimV + head * headDimV
                var column = 0
                while column < headDimV {
                    (vPanels + (column / width * panelStride + local) * width).copyShortRow(from: values + column, count: min(width, headDimV - column))
                    column += width
                }
            }
        }

        /// Every head's keys, in parallel chunks, into [heads][paddedKeys] layouts.
        func packAll(heads: Int, paddedKeys: Int, kt: UnsafeMutablePointer<Float>, vPadded: UnsafeMutablePointer<Float>) {
            let chunksPerHead = (paddedKeys + packChunk - 1) / packChunk
            Parallel.forEach(chunks: heads * chunksPerHead) { item in
                let h = item / chunksPerHead
                let first = (item % chunksPerHead) * packChunk
                pack(head: h, first: first, last: min(paddedKeys, first + packChunk), kt: kt + (h * paddedKeys + first) * paddedHeadDim,
                     vPanels: vPadded + h * paddedKeys * paddedDimV + first * width, panelStride: paddedKeys)
            }
        }
    }

    /// acc += P V for one tile: P is the score block read in place (rows keyBlock apart), V a
    /// packed panel. The constant strides let the compiler address both with fixed offsets.
    @inline(never)
    static func valueTile(_ shape: TileShape, k: Int, p: UnsafePointer<Float>, v: UnsafePointer<Float>, acc: UnsafeMutablePointer<Float>, ldc: Int) {
        switch shape {
        case .wide: MicroKernel.tile8x32Body(k: k, a: p, rs: keyBlock, ss: 1, b: v, ldb: 32, c: acc, ldc: ldc, accumulate: true)
        case .narrow: MicroKernel.tile6x16Body(k: k, a: p, rs: keyBlock, ss: 1, b: v, ldb: 16, c: acc, ldc: ldc, accumulate: true)
        }
    }

    struct Job: @unchecked Sendable {
        let q: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
        let kt: UnsafeMutablePointer<Float>
        let v: UnsafeMutablePointer<Float>
        /// When set, each item packs its key blocks itself (kt and v are then unused).
        let keys: KeySource?
        /// Per (head, block, split) item: queryBlock rows of [O (paddedDimV) | m | l], when split.
        let partials: UnsafeMutablePointer<Float>?
        /// [heads * m] natural log-sum-exp per (head, row), when asked for.
        let logSumExp: UnsafeMutablePointer<Float>?
        let m, n, dim, dimV, headDim, headDimV, paddedHeadDim, paddedDimV, paddedKeys, queryBlock: Int
        let scale: Float
        let causal: Bool
        let shape: TileShape

        var partialStride: Int { queryBlock * (paddedDimV + 2) }

        func run(head: Int, rowStart: Int, keyStart firstKey: Int, keyEnd lastKey: Int, partial: Int?) {
            let rows = min(queryBlock, m - rowStart)
            let paddedRows = (rows + shape.rows - 1) / shape.rows * shape.rows
            let width = shape.columns
            let keyBlock = FlashAttention.keyBlock
            let qBlock = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows * paddedHeadDim)
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows * keyBlock)
            let acc = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows * paddedDimV)
            let softmax = OnlineSoftmax(rows: paddedRows)
            let blockKT = UnsafeMutablePointer<Float>.allocate(capacity: keys == nil ? 0 : keyBlock * paddedHeadDim)
            let blockV = UnsafeMutablePointer<Float>.allocate(capacity: keys == nil ? 0 : keyBlock * paddedDimV)
            defer {
                qBlock.deallocate(); scores.deallocate(); acc.deallocate()
                softmax.deallocate(); blockKT.deallocate(); blockV.deallocate()
            }
            // Q's block is packed as the micro-kernel's strips (each step's rows together), so
            // the score tiles run the constant-stride kernel; padding rows are zero.
            qBlock.update(repeating: 0, count: paddedRows * paddedHeadDim)
            for r in 0..<rows {
                let source = q + (rowStart + r) * dim + head * headDim
                let lane = qBlock + (r / shape.rows) * shape.rows * paddedHeadDim + r % shape.rows
                for c in 0..<headDim { lane[c * shape.rows] = source[c] * scale }
            }
            acc.update(repeating: 0, count: paddedRows * paddedDimV)
            let ktHead = kt + head * paddedKeys * paddedHeadDim
            let vHead = v + head * paddedKeys * paddedDimV

            let keyEnd = causal ? min(lastKey, rowStart + rows) : lastKey
            var keyStart = firstKey
            while keyStart < keyEnd {
                let count = min(keyBlock, keyEnd - keyStart)
                let paddedCount = (count + width - 1) / width * width
                // This block's K^T and V panels, starting at key keyStart; V's panels are valuePanelStride keys apart.
                var (blockKeys, blockValues, valuePanelStride) = (ktHead + keyStart * paddedHeadDim, vHead + keyStart * width, paddedKeys)
                if let keys {
                    keys.pack(head: head, first: keyStart, last: keyStart + paddedCount, kt: blockKT, vPanels: blockV, panelStride: keyBlock)
                    (blockKeys, blockValues, valuePanelStride) = (blockKT, blockV, keyBlock)
                }
                // S = Q K^T for this block of keys, panel by panel: a K^T panel stays in L1 while
                // every strip of queries uses it.
                for panel in 0..<(paddedCount / width) {
                    var strip = 0
                    while strip < paddedRows {
                        MicroKernel.packedTile(shape, k: headDim, a: qBlock + strip * paddedHeadDim,
                                               b: blockKeys + panel * paddedHeadDim * width,
                                               c: scores + strip * keyBlock + panel * width, ldc: keyBlock, accumulate: false, prefetchingC: false)
                        strip += shape.rows
                    }
                }
                for r in 0..<paddedRows {
                    let row = scores + r * keyBlock
                    // Keys past the end (padding) and, when causal, after the query are masked.
                    let visible = causal ? min(count, max(0, rowStart + r + 1 - keyStart)) : count
                    if visible < paddedCount { (row + visible).update(repeating: -.infinity, count: paddedCount - visible) }
                }
                softmax.step(scores: scores, stride: keyBlock, count: paddedCount, acc: acc, accWidth: paddedDimV)
                // O += P V (a head's value columns that fit a 16-wide tile take that tile).
                if shape == .wide && headDimV <= TileShape.narrow.columns {
                    Gemm.multiplyUnpacked(scores, lda: keyBlock, blockValues, ldb: width, acc, ldc: paddedDimV,
                                          m: rows, n: headDimV, k: paddedCount, accumulate: true, shape: .narrow)
                } else {
                    var strip = 0
                    while strip < paddedRows {
                        for panel in 0..<(paddedDimV / width) {
                            FlashAttention.valueTile(shape, k: paddedCount, p: scores + strip * keyBlock, v: blockValues + panel * valuePanelStride * width,
                                                     acc: acc + strip * paddedDimV + panel * width, ldc: paddedDimV)
                        }
                        strip += shape.rows
                    }
                }
                keyStart += count
            }
            if let partial, let partials {
                // Keep the unnormalised state; `merge` combines the key ranges in order.
                let base = partials + partial * partialStride
                for r in 0..<rows {
                    let row = base + r * (paddedDimV + 2)
                    row.update(from: acc + r * paddedDimV, count: paddedDimV)
                    row[paddedDimV] = softmax.runningMax[r]
                    row[paddedDimV + 1] = softmax.runningSum[r]
                }
                return
            }
            for r in 0..<rows {
                let destination = out + (rowStart + r) * dimV + head * headDimV
                let inverse = 1 / softmax.runningSum[r]
                for c in 0..<headDimV { destination[c] = acc[r * paddedDimV + c] * inverse }
                logSumExp?[head * m + rowStart + r] = naturalLogSumExp(max: softmax.runningMax[r], sum: softmax.runningSum[r])
            }
        }

        /// ln(sum_j e^(scale s_j)) from the base-2 running state: (m + log2 l) ln 2.
        @inline(__always) func naturalLogSumExp(max: Float, sum: Float) -> Float {
            (max + log2(sum)) * 0.6931471805599453
        }

        /// Combines the key ranges of one query block, in range order:
        /// m = max m_s, l = sum l_s 2^(m_s - m), out = sum O_s 2^(m_s - m) / l.
        func merge(head: Int, block: Int, splits: Int) {
            guard let partials else { return }
            let rowStart = block * queryBlock
            let rows = min(queryBlock, m - rowStart)
            // Items are numbered ((head * blocksPerHead) + block) * splits + split.
            let blocksPerHead = (m + queryBlock - 1) / queryBlock
            let first = (head * blocksPerHead + block) * splits
            for r in 0..<rows {
                func state(_ s: Int) -> UnsafeMutablePointer<Float> { partials + (first + s) * partialStride + r * (paddedDimV + 2) }
                var top = -Float.infinity
                for s in 0..<splits { top = max(top, state(s)[paddedDimV]) }
                let destination = out + (rowStart + r) * dimV + head * headDimV
                for c in 0..<headDimV { destination[c] = 0 }
                var total: Float = 0
                for s in 0..<splits {
                    let partial = state(s)
                    let weight = partial[paddedDimV] == -.infinity ? 0 : FastExp.exp2(partial[paddedDimV] - top)
                    total += partial[paddedDimV + 1] * weight
                    for c in 0..<headDimV { destination[c] += partial[c] * weight }
                }
                let inverse = 1 / total
                for c in 0..<headDimV { destination[c] *= inverse }
                logSumExp?[head * m + rowStart + r] = naturalLogSumExp(max: top, sum: total)
            }
        }
    }
}
