import AttnKernels
import Foundation

// NumPy .npy files. Relative paths resolve against the script's folder (the REPL's: the cwd).
enum FileBuiltins {
    static func resolve(_ path: String, _ interp: Interpreter) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return expanded }
        return (interp.baseDirectory as NSString).appendingPathComponent(expanded)
    }

    static let all: [Builtin] = [
        Builtin("load", [.required("path", .string)],
                summary: "Read a NumPy .npy file (<f4, or <f8 converted to f32; C order) as a tensor.") { args, interp in
            let path = try args.string("path")
            return .tensor(try NumpyFile.load(path: resolve(path, interp), displayName: path))
        },
        Builtin("save", [.required("x", .tensor), .required("path", .string)],
                summary: "Write a tensor to a NumPy .npy file (<f4, C order).") { args, interp in
            try NumpyFile.save(try args.tensor("x"), path: resolve(try args.string("path"), interp))
            return .none
        },
    ]
}
