// The "kd" ordering of tca.md: recursive splits along the coordinate of largest variance, ties
// broken by original index, so that neighbours in the order are near each other. The splits
// follow the tensorised tree: a node at position `start` owns the slots start ..< start +
// capacity (capacity = b^levels * P), its b children own equal consecutive shares, so the tokens
// of every node, and of every leaf, are one contiguous run (the padding slots come last).
// Quickselect (deterministic pivots) keeps each level O(N): the ordering is O(N log N).
enum KDOrder {
    static func permutation(points: UnsafePointer<Float>, count: Int, dim: Int, branch: Int, depth: Int, leafSize: Int) -> [Int] {
        var order = Array(0..<count)
        guard dim > 0 else { return order }
        order.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            split(base, count: count, points: points, dim: dim, branch: branch, depth: depth, leafSize: max(1, leafSize))
        }
        return order
    }

    /// Orders indices[0..<count] in place, node by node.
    static func split(_ indices: UnsafeMutablePointer<Int>, count: Int, points: UnsafePointer<Float>, dim: Int, branch: Int, depth: Int, leafSize: Int) {
        var rootCapacity = leafSize
        for _ in 0..<depth { rootCapacity *= branch }
        var stack = [(start: 0, capacity: rootCapacity)]
        while let (start, capacity) = stack.popLast() {
            let end = min(count, start + capacity)
            if end - start <= 1 || capacity <= leafSize { continue }
            let axis = widestAxis(indices + start, count: end - start, points: points, dim: dim)
            let share = capacity / branch
            var first = start
            for child in 0..<branch {
                let boundary = min(end, start + (child + 1) * share)
                if boundary > first && boundary < end {
                    select(indices, first, end, boundary, points: points, dim: dim, axis: axis)
                }
                if boundary > first { stack.append((first, share)) }
                first = boundary
            }
        }
    }

    /// The coordinate with the largest variance over the given points (lowest index on ties).
    static func widestAxis(_ indices: UnsafeMutablePointer<Int>, count: Int, points: UnsafePointer<Float>, dim: Int) -> Int {
        var best = 0, bestVariance = -1.0
        for axis in 0..<dim {
            var mean = 0.0, squares = 0.0
            for i in 0..<count {
                let x = Double(points[indices[i] * dim + axis])
                mean += x
                squares += x * x
            }
            mean /= Double(count)
            let variance = squares / Double(count) - mean * mean
            if variance > bestVariance { best = axis; bestVariance = variance }
        }
        return best
    }

    /// Strict order on (coordinate, original index): the median is unique and deterministic.
    @inline(__always)
    static func less(_ a: Int, _ b: Int, _ points: UnsafePointer<Float>, _ dim: Int, _ axis: Int) -> Bool {
        let x = points[a * dim + axis], y = points[b * dim + axis]
        return x < y || (x == y && a < b)
    }

    /// Quickselect: afterwards indices[k] is the k-th smallest, smaller ones before, larger after.
    static func select(_ indices: UnsafeMutablePointer<Int>, _ lo: Int, _ hi: Int, _ k: Int, points: UnsafePointer<Float>, dim: Int, axis: Int) {
        var left = lo, right = hi - 1
        while right > left {
            // Median of three as the pivot.
            let mid = left + (right - left) / 2
            if less(indices[mid], indices[left], points, dim, axis) { indices.swapAt(mid, left) }
            if less(indices[right], indices[left], points, dim, axis) { indices.swapAt(right, left) }
            if less(indices[right], indices[mid], points, dim, axis) { indices.swapAt(right, mid) }
            let pivot = indices[mid]
            var i = left, j = right
            while i <= j {
                while less(indices[i], pivot, points, dim, axis) { i += 1 }
                while less(pivot, indices[j], points, dim, axis) { j -= 1 }
                if i <= j {
                    indices.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j { right = j } else if k >= i { left = i } else { return }
        }
    }
}

private extension UnsafeMutablePointer where Pointee == Int {
    func swapAt(_ i: Int, _ j: Int) {
        let t = self[i]
        self[i] = self[j]
        self[j] = t
    }
}
