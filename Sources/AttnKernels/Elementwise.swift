import Foundation

// Elementwise arithmetic with NumPy broadcasting (shapes aligned on the right; a size-1 axis
// stretches), and unary maps.
public enum BinaryOp: String, Sendable {
    case add = "+", sub = "-", mul = "*", div = "/", mod = "%", pow = "**"
    case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">="

    @inline(__always)
    public func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        case .mod:
            // Sign of the divisor, as Python and NumPy.
            let r = fmodf(a, b)
            return (r != 0 && (r < 0) != (b < 0)) ? r + b : r
        case .pow: return powf(a, b)
        case .eq: return a == b ? 1 : 0
        case .ne: return a != b ? 1 : 0
        case .lt: return a < b ? 1 : 0
        case .le: return a <= b ? 1 : 0
        case .gt: return a > b ? 1 : 0
        case .ge: return a >= b ? 1 : 0
        }
    }
}

public enum UnaryOp: String, Sendable {
    case neg, exp, log, sqrt, abs, tanh, relu, sigmoid, sin, cos, floor

    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch self {
        case .neg: return -x
        case .exp: return expf(x)
        case .log: return logf(x)
        case .sqrt: return sqrtf(x)
        case .abs: return Swift.abs(x)
        case .tanh: return tanhf(x)
        case .relu: return x > 0 ? x : 0
        case .sigmoid: return 1 / (1 + expf(-x))
        case .sin: return sinf(x)
        case .cos: return cosf(x)
        case .floor: return floorf(x)
        }
    }
}

public extension Tensor {
    func map(_ op: UnaryOp) -> Tensor {
        var out = self
        out.data.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices { buffer[i] = op.apply(buffer[i]) }
        }
        return out
    }

    func scalarOp(_ op: BinaryOp, _ scalar: Float, scalarOnLeft: Bool = false) -> Tensor {
        var out = self
        out.data.withUnsafeMutableBufferPointer { buffer in
            if scalarOnLeft {
                for i in buffer.indices { buffer[i] = op.apply(scalar, buffer[i]) }
            } else {
                for i in buffer.indices { buffer[i] = op.apply(buffer[i], scalar) }
            }
        }
        return out
    }

    static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if x == y || y == 1 { out[i] = x } else if x == 1 { out[i] = y } else { return nil }
        }
        return out
    }

    func binary(_ op: BinaryOp, _ other: Tensor) throws -> Tensor {
        // Equal shapes, and a row vector against every row of a matrix (a bias), get their own
        // vectorised, parallel loops.
        if ParallelElementwise.handles(op) && (shape == other.shape || (rank == 2 && other.rank == 1 && other.shape[0] == shape[1])) {
            return combined(op, other)
        }
        if shape == other.shape {
            var out = self
            out.data.withUnsafeMutableBufferPointer { o in
                other.data.withUnsafeBufferPointer { b in
                    for i in o.indices { o[i] = op.apply(o[i], b[i]) }
                }
            }
            return out
        }
        guard let outShape = Tensor.broadcastShape(shape, other.shape) else {
            throw KernelError.shapeMismatch("cannot broadcast `\(op.rawValue)`", shape, other.shape)
        }
        var out = try Tensor(zeros: outShape)
        // Pad both operands to rank 4 with stride 0 on broadcast axes.
        let padded = [Int](repeating: 1, count: 4 - outShape.count) + outShape
        func broadcastStrides(_ s: [Int]) -> [Int] {
            let full = [Int](repeating: 1, count: 4 - s.count) + s
            let st = Tensor.strides(for: full)
            return (0..<4).map { full[$0] == 1 ? 0 : st[$0] }
        }
        let sa = broadcastStrides(shape), sb = broadcastStrides(other.shape)
        data.withUnsafeBufferPointer { a in
            other.data.withUnsafeBufferPointer { b in
                out.data.withUnsafeMutableBufferPointer { o in
                    var index = 0
                    for i0 in 0..<padded[0] {
                        for i1 in 0..<padded[1] {
                            for i2 in 0..<padded[2] {
                                let baseA = i0 * sa[0] + i1 * sa[1] + i2 * sa[2]
                                let baseB = i0 * sb[0] + i1 * sb[1] + i2 * sb[2]
                                for i3 in 0..<padded[3] {
                                    o[index] = op.apply(a[baseA + i3 * sa[3]], b[baseB + i3 * sb[3]])
                                    index += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
