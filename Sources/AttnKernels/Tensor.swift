// The one tensor type: Float32, rank 1 to 4, row-major, value semantics (Swift arrays are
// copy-on-write, so passing a tensor around never copies its data).
public struct Tensor: Equatable, Sendable {
    public static let maxRank = 4

    public private(set) var shape: [Int]
    public var data: [Float]

    /// A tensor of zeros; the shape is checked against the rank and memory limits.
    public init(zeros shape: [Int]) throws {
        try Tensor.checkRank(shape)
        let count = try MemoryLimit.checkedCount(shape)
        self.shape = shape
        self.data = [Float](repeating: 0, count: count)
    }

    /// A tensor whose elements the caller overwrites before reading (a GEMM's output): no pass
    /// that zeroes them first.
    init(uninitialized shape: [Int]) throws {
        try Tensor.checkRank(shape)
        let count = try MemoryLimit.checkedCount(shape)
        self.shape = shape
        self.data = [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    public init(shape: [Int], repeating value: Float) throws {
        try self.init(zeros: shape)
        if value != 0 { for i in data.indices { data[i] = value } }
    }

    /// Wraps existing data; the count must match the shape.
    public init(shape: [Int], data: [Float]) throws {
        try Tensor.checkRank(shape)
        let count = try MemoryLimit.checkedCount(shape)
        guard count == data.count else {
            throw KernelError.invalidShape("shape \(formatShape(shape)) needs \(count) elements, got \(data.count)")
        }
        self.shape = shape
        self.data = data
    }

    public var rank: Int { shape.count }
    public var count: Int { data.count }

    /// Row-major strides in elements.
    public var strides: [Int] { Tensor.strides(for: shape) }

    public static func strides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    public static func checkRank(_ shape: [Int]) throws {
        guard (1...maxRank).contains(shape.count) else {
            throw KernelError.invalidShape("tensors have rank 1 to \(maxRank), got shape \(formatShape(shape)) (rank \(shape.count))")
        }
        for size in shape where size < 0 {
            throw KernelError.invalidShape("negative dimension in shape \(formatShape(shape))")
        }
    }

    /// Same data, new shape (element count must agree).
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        try Tensor.checkRank(newShape)
        let count = newShape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        guard count == self.count else {
            throw KernelError.shapeMismatch("reshape needs the same number of elements", shape, newShape)
        }
        var copy = self
        copy.shape = newShape
        return copy
    }

    /// Rows and columns when the tensor is viewed as a matrix [rows, last axis].
    public var matrixShape: (rows: Int, cols: Int) {
        let cols = shape.last ?? 1
        return (cols == 0 ? 0 : count / cols, cols)
    }
}
