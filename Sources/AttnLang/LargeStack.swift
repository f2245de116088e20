import Foundation

// The evaluator recurses on nested expressions and calls; it runs on a thread with a large stack
// so the language's own limits (nesting, call depth) always trip before the machine's.
public enum LargeStack {
    public static let bytes = 512 << 20

    public static func run<T>(_ body: @escaping () -> T) -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            box.value = body()
            done.signal()
        }
        thread.stackSize = bytes
        thread.start()
        done.wait()
        return box.value!
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
