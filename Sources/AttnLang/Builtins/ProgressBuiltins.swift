// `for x in progress(list) { ... }` shows a progress bar while the loop runs (on a terminal's
// stderr only). The loop statement recognises the call; called anywhere else it returns the list.
enum ProgressBuiltins {
    static let all: [Builtin] = [
        Builtin("progress", [.required("items", .list), .optional("label", .optional(.string))],
                summary: "The same list; a `for` loop over progress(list) shows a progress bar on a terminal.",
                doc: "The bar (count, time left) goes to stderr, and only when it is a terminal, so output files and golden transcripts are unaffected. `label=` names it.") { args, interp in
            interp.progressLabelGiven = try args.optionalString("label") ?? ""
            return args["items"]
        },
    ]
}
