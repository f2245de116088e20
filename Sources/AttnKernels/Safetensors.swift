import Foundation

// The safetensors format (Hugging Face), so weights move to and from PyTorch:
// 8 bytes little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the raw little-endian data. attn writes F32; it reads F32, F64, F16 and BF16.
public enum Safetensors {
    public static func encode(_ tensors: [(String, Tensor)], metadata: [String: String] = [:]) throws -> [UInt8] {
        var header = [String: Any]()
        var offset = 0
        for (name, tensor) in tensors {
            guard name != "__metadata__" else { throw KernelError.invalidArgument("`__metadata__` cannot name a tensor") }
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + 4 * tensor.count]] as [String: Any]
            offset += 4 * tensor.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        while json.count % 8 != 0 { json.append(0x20) }  // the format pads the header with spaces
        var bytes = [UInt8]()
        bytes.reserveCapacity(8 + json.count + offset)
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * UInt64(i)))) }
        bytes.append(contentsOf: json)
        for (_, tensor) in tensors {
            for value in tensor.data {
                let bits = value.bitPattern.littleEndian
                for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt32(i)))) }
            }
        }
        return bytes
    }

    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], path: String) throws {
        let bytes = try encode(tensors, metadata: metadata)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw KernelError.io("cannot write `\(path)`")
        }
    }

    public static func read(path: String) throws -> [(String, Tensor)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KernelError.io("cannot read `\(path)`: no such file or not readable")
        }
        return try decode([UInt8](data), name: path)
    }

    /// Tensors in the order of their data offsets.
    public static func decode(_ bytes: [UInt8], name: String = "input") throws -> [(String, Tensor)] {
        guard bytes.count >= 8 else { throw KernelError.fileFormat("`\(name)` is not a safetensors file (too short)") }
        let headerLength = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
        guard headerLength <= UInt64(bytes.count - 8), headerLength <= 100_000_000 else {
            throw KernelError.fileFormat("`\(name)` is not a safetensors file (header length \(headerLength) does not fit the file)")
        }
        let dataStart = 8 + Int(headerLength)
        guard let header = (try? JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart]))) as? [String: Any] else {
            throw KernelError.fileFormat("`\(name)`: the safetensors header is not a JSON object")
        }
        var result = [(offset: Int, name: String, tensor: Tensor)]()
        for (key, entry) in header where key != "__metadata__" {
            guard let fields = entry as? [String: Any], let dtype = fields["dtype"] as? String,
                  let shape = fields["shape"] as? [Int], let offsets = fields["data_offsets"] as? [Int], offsets.count == 2 else {
                throw KernelError.fileFormat("`\(name)`: tensor `\(key)` needs dtype, shape and data_offsets")
            }
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F64": width = 8
            case "F16", "BF16": width = 2
            default: throw KernelError.fileFormat("`\(name)`: tensor `\(key)` has dtype \(dtype); attn reads F32, F64, F16 and BF16")
            }
            let shape1 = shape.isEmpty ? [1] : shape
            try Tensor.checkRank(shape1)
            let count = try MemoryLimit.checkedCount(shape1)
            let (start, end) = (offsets[0], offsets[1])
            guard start >= 0, end >= start, end - start == count * width, dataStart + end <= bytes.count else {
                throw KernelError.fileFormat("`\(name)`: tensor `\(key)` has data offsets \(offsets) that do not match its shape \(formatShape(shape)) and \(dtype)")
            }
            var values = [Float](repeating: 0, count: count)
            let base = dataStart + start
            for i in 0..<count {
                var bits: UInt64 = 0
                for b in 0..<width { bits |= UInt64(bytes[base + i * width + b]) << (8 * UInt64(b)) }
                switch dtype {
                case "F32": values[i] = Float(bitPattern: UInt32(bits))
                case "F64": values[i] = Float(Double(bitPattern: bits))
                case "BF16": values[i] = Float(bitPattern: UInt32(bits) << 16)
                default: values[i] = Float(Float16(bitPattern: UInt16(bits)))
                }
            }
            result.append((start, key, try Tensor(shape: shape1, data: values)))
        }
        return result.sorted { ($0.offset, $0.name) < ($1.offset, $1.name) }.map { ($0.name, $0.tensor) }
    }
}
