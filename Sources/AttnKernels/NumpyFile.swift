import Foundation

// NumPy .npy files (format versions 1.0, 2.0 and 3.0): little-endian float32 ('<f4') is read as
// is, float64 ('<f8') is converted to float32, C order only. Anything else is a clear error.
public enum NumpyFile {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    /// `displayName` is how messages name the file (the path as the user wrote it).
    public static func load(path: String, displayName: String? = nil) throws -> Tensor {
        let name = displayName ?? path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KernelError.io("cannot read `\(name)`: no such file or not readable")
        }
        return try decode([UInt8](data), name: name)
    }

    public static func decode(_ bytes: [UInt8], name: String = "input") throws -> Tensor {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw KernelError.fileFormat("`\(name)` is not a NumPy .npy file (bad magic bytes)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw KernelError.fileFormat("`\(name)`: truncated .npy header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw KernelError.fileFormat("`\(name)`: unsupported .npy format version \(major)")
        }
        guard headerStart + headerLength <= bytes.count,
              let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1)
        else { throw KernelError.fileFormat("`\(name)`: truncated .npy header") }
        let fields = try parseHeader(header, name: name)
        guard !fields.fortranOrder else {
            throw KernelError.fileFormat("`\(name)` is in Fortran order; save it in C order (np.ascontiguousarray)")
        }
        let elementSize: Int
        switch fields.descr {
        case "<f4": elementSize = 4
        case "<f8": elementSize = 8
        default:
            throw KernelError.fileFormat("`\(name)` has dtype '\(fields.descr)'; attn reads little-endian float32 '<f4' or float64 '<f8' (convert with .astype(np.float32))")
        }
        guard (1...Tensor.maxRank).contains(fields.shape.count) else {
            throw KernelError.fileFormat("`\(name)` has shape \(formatShape(fields.shape)); attn tensors have rank 1 to \(Tensor.maxRank)")
        }
        let count = try MemoryLimit.checkedCount(fields.shape)
        let payload = headerStart + headerLength
        guard bytes.count - payload == count * elementSize else {
            throw KernelError.fileFormat("`\(name)`: shape \(formatShape(fields.shape)) needs \(count * elementSize) data bytes, file has \(bytes.count - payload)")
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            if elementSize == 4 {
                for i in 0..<count { values[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: payload + 4 * i, as: UInt32.self))) }
            } else {
                for i in 0..<count { values[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: payload + 8 * i, as: UInt64.self)))) }
            }
        }
        return try Tensor(shape: fields.shape, data: values)
    }

    struct HeaderFields {
        var descr: String
        var fortranOrder: Bool
        var shape: [Int]
    }

    /// Parses the Python dict literal of the header, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
    static func parseHeader(_ header: String, name: String) throws -> HeaderFields {
        func fail(_ why: String) -> KernelError { .fileFormat("`\(name)`: bad .npy header (\(why)): \(header.trimmingCharacters(in: .whitespacesAndNewlines))") }
        func value(of key: String) throws -> Substring {
            guard let keyRange = header.range(of: "'\(key)'") else { throw fail("no '\(key)'") }
            let rest = header[keyRange.upperBound...].drop { $0 == " " || $0 == ":" }
            return rest
        }
        let descrText = try value(of: "descr")
        guard descrText.first == "'", let close = descrText.dropFirst().firstIndex(of: "'") else { throw fail("descr") }
        let descr = String(descrText[descrText.index(after: descrText.startIndex)..<close])
        let fortranText = try value(of: "fortran_order")
        let fortran: Bool
        if fortranText.hasPrefix("True") { fortran = true } else if fortranText.hasPrefix("False") { fortran = false } else { throw fail("fortran_order") }
        let shapeText = try value(of: "shape")
        guard shapeText.first == "(", let end = shapeText.firstIndex(of: ")") else { throw fail("shape") }
        let inside = shapeText[shapeText.index(after: shapeText.startIndex)..<end]
        var shape = [Int]()
        for part in inside.split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let size = Int(trimmed), size >= 0 else { throw fail("shape entry '\(trimmed)'") }
            shape.append(size)
        }
        return HeaderFields(descr: descr, fortranOrder: fortran, shape: shape)
    }

    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let shapeText = tensor.rank == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        // Pad so that the data starts on a 64-byte boundary, ending the header with a newline.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = magic + [1, 0]
        let length = header.utf8.count
        bytes += [UInt8(length & 0xFF), UInt8(length >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + 4 * tensor.count)
        for x in tensor.data {
            let bits = x.bitPattern.littleEndian
            bytes += [UInt8(bits & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8((bits >> 16) & 0xFF), UInt8(bits >> 24)]
        }
        return bytes
    }

    public static func save(_ tensor: Tensor, path: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try Data(encode(tensor)).write(to: url)
        } catch {
            throw KernelError.io("cannot write `\(path)`: \(error.localizedDescription)")
        }
    }
}
