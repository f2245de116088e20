import Foundation

/// SGD (with momentum), Adam and AdamW (decoupled weight decay), with optional clipping of the
/// global gradient norm and a learning-rate schedule. Updates run over parameters in the
/// store's order, element by element, so training is deterministic.
public struct Optimizer: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case sgd, adam, adamw }

    public var kind: Kind
    public var schedule: LearningRateSchedule
    public var momentum: Float = 0.9
    public var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
    public var weightDecay: Float
    public var clipNorm: Float?
    public private(set) var step = 0
    private var first: [String: [Float]] = [:]
    private var second: [String: [Float]] = [:]

    public init(kind: Kind, schedule: LearningRateSchedule, weightDecay: Float? = nil, clipNorm: Float? = nil) {
        self.kind = kind
        self.schedule = schedule
        self.weightDecay = weightDecay ?? (kind == .adamw ? 0.01 : 0)
        self.clipNorm = clipNorm
    }

    /// The L2 norm of all gradients together.
    public static func globalNorm(_ gradients: [String: Tensor], order: [String]) -> Float {
        var squares = 0.0
        for name in order { for g in gradients[name]?.data ?? [] { squares += Double(g) * Double(g) } }
        return Float(squares.squareRoot())
    }

    /// Applies one update; returns the learning rate used and the gradient norm before clipping.
    @discardableResult
    public mutating func update(_ store: inout ParameterStore, _ gradients: [String: Tensor]) throws -> (lr: Float, gradNorm: Float) {
        let lr = schedule.rate(at: step)
        step += 1
        let norm = Optimizer.globalNorm(gradients, order: store.names)
        let clipScale: Float = clipNorm.map { norm > $0 && norm > 0 ? $0 / norm : 1 } ?? 1
        for name in store.names {
            guard var w = store[name], let g = gradients[name] else { continue }
            // Taken out of the dictionaries so that they are updated in place, not copied.
            var m = first.removeValue(forKey: name) ?? [Float](repeating: 0, count: w.count)
            switch kind {
            case .sgd:
                w.data.withUnsafeMutableBufferPointer { w in
                    m.withUnsafeMutableBufferPointer { m in
                        for i in w.indices {
                            let gi = g.data[i] * clipScale + weightDecay * w[i]
                            m[i] = momentum * m[i] + gi
                            w[i] -= lr * m[i]
                        }
                    }
                }
            case .adam, .adamw:
                var v = second.removeValue(forKey: name) ?? [Float](repeating: 0, count: w.count)
                let t = Float(step)
                let correction1 = 1 - powf(beta1, t), correction2 = 1 - powf(beta2, t)
                w.data.withUnsafeMutableBufferPointer { w in
                    m.withUnsafeMutableBufferPointer { m in
                        v.withUnsafeMutableBufferPointer { v in
                            for i in w.indices {
                                var gi = g.data[i] * clipScale
                                if kind == .adam { gi += weightDecay * w[i] } else { w[i] -= lr * weightDecay * w[i] }
                                m[i] = beta1 * m[i] + (1 - beta1) * gi
                                v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
                                w[i] -= lr * (m[i] / correction1) / ((v[i] / correction2).squareRoot() + epsilon)
                            }
                        }
                    }
                }
                second[name] = v
            }
            first[name] = m
            try store.set(name, w)
        }
        return (lr, norm)
    }
}

/// Linear warmup from 0 to `peak` over `warmup` steps, then cosine decay to `floor` at `total`
/// steps (constant at `peak` when `cosine` is false).
public struct LearningRateSchedule: Sendable {
    public var peak: Float
    public var warmup: Int
    public var total: Int
    public var cosine: Bool
    public var floor: Float

    public init(peak: Float, warmup: Int = 0, total: Int = 1, cosine: Bool = false, floor: Float = 0) {
        (self.peak, self.warmup, self.total, self.cosine, self.floor) = (peak, warmup, total, cosine, floor)
    }

    public func rate(at step: Int) -> Float {
        if step < warmup { return peak * Float(step + 1) / Float(warmup) }
        guard cosine else { return peak }
        let span = max(1, total - warmup)
        let progress = min(1, Float(step - warmup) / Float(span))
        return floor + (peak - floor) * 0.5 * (1 + cosf(.pi * progress))
    }
}
