import Foundation

// A run recorded as a notebook: cells with their code and, in order, what they printed, the
// figures they showed and the error that stopped them. Built by NotebookRecorder while a
// script (attn run --report) or a REPL session (:save) runs; written by ReportWriter.
public struct Notebook {
    public enum Item {
        case text(String)
        case error(String)
        case figure(Figure)
    }

    public struct Cell {
        public var title: String?
        public var code: String
        public var items: [Item] = []
        /// false for cells after the one that failed.
        public var ran = false
    }

    public var title: String
    public var cells: [Cell] = []
    public var totalMilliseconds = 0.0
    public var started = Date()
}

/// An output sink that records into the notebook's current cell and passes everything on to
/// `tee` (the terminal), so a run with a report still shows its output as it goes.
public final class NotebookRecorder: OutputSink {
    public private(set) var notebook: Notebook
    let tee: OutputSink?

    public init(title: String, tee: OutputSink?) {
        notebook = Notebook(title: title)
        self.tee = tee
    }

    public func startCell(title: String?, code: String) {
        notebook.cells.append(Notebook.Cell(title: title, code: code, ran: true))
    }

    func addPending(_ cell: Notebook.Cell) { notebook.cells.append(cell) }

    public func setTotal(milliseconds: Double) { notebook.totalMilliseconds = milliseconds }

    public func write(_ text: String, isError: Bool) {
        tee?.write(text, isError: isError)
        if notebook.cells.isEmpty { startCell(title: nil, code: "") }
        let last = notebook.cells.count - 1
        // Consecutive writes of the same kind form one block.
        switch (notebook.cells[last].items.last, isError) {
        case let (.text(previous)?, false):
            notebook.cells[last].items[notebook.cells[last].items.count - 1] = .text(previous + text)
        case let (.error(previous)?, true):
            notebook.cells[last].items[notebook.cells[last].items.count - 1] = .error(previous + text)
        default:
            notebook.cells[last].items.append(isError ? .error(text) : .text(text))
        }
    }

    public func emit(_ figure: Figure) {
        tee?.emit(figure)
        if notebook.cells.isEmpty { startCell(title: nil, code: "") }
        notebook.cells[notebook.cells.count - 1].items.append(.figure(figure))
    }
}
