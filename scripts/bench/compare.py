#!/usr/bin/env python3
"""attn against NumPy and PyTorch on the same inputs, in one run.

Writes the inputs as .npy files, runs one attn script that loads them and times each case with
bench() (median), times NumPy and (if installed) PyTorch on the same arrays, checks that the
outputs agree, and prints a Markdown table with attn/peer ratios (> 1 means attn is faster).
Each case runs `--rounds` times (attn, NumPy, PyTorch in turn); the table gives the median time
of the rounds and the median of the per-round ratios with their range, because a shared
machine's speed drifts by tens of percent within a minute and one round of three timings can
land anywhere in that drift. For the same reason the machine's vector FMA peak (attn's
`fma_peak()`, all threads) is measured just before each library's timing in every round, and a
second table gives each library's GFLOP/s as a fraction of the peak measured just before it.
Each library's turn starts after a pause: OpenBLAS's and PyTorch's idle threads keep spinning
for a while after their work, and without the pause they took a core from whichever library ran
next (PyTorch's attention at N = 1024 took 8 ms right after NumPy's and 2 ms after a pause).

    python3 scripts/bench/compare.py [--attn PATH] [--quick] [--rounds R] [--only TEXT] [--out FILE]

--only keeps the cases whose name contains TEXT (e.g. `--only GEMM --rounds 9`: more rounds of a
few cases for a steadier ratio) and skips the memory measurement.

PyTorch is optional: without it the torch columns say "skipped". NumPy runs with the
environment as it is (OPENBLAS_CORETYPE and the kernels OpenBLAS chose are reported).
"""
import argparse, json, os, platform, re, resource, subprocess, sys, tempfile, time

import numpy as np

try:
    import torch
    torch.set_num_threads(int(os.environ.get("ATTN_THREADS", os.cpu_count() or 1)))
except ImportError:
    torch = None


def openblas_kernels():
    """The kernel family OpenBLAS chose at run time (e.g. SkylakeX: AVX-512), or "unknown"."""
    import ctypes
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and line.rstrip().endswith(".so")}
        for path in paths:
            library = ctypes.CDLL(path)
            for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_",
                           "openblas_get_corename"):
                if hasattr(library, symbol):
                    function = getattr(library, symbol)
                    function.restype = ctypes.c_char_p
                    name = function()
                    return name.decode() if name else "unknown"
    except OSError:
        pass
    return "unknown"


def median_ms(f, repeat):
    f()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    mid = len(times) // 2
    return times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2


def np_attention(q, k, v, heads=1, causal=False):
    m, d = q.shape
    dh = d // heads
    out = np.empty((m, v.shape[1]), dtype=np.float32)
    dvh = v.shape[1] // heads
    for h in range(heads):
        s = q[:, h * dh:(h + 1) * dh] @ k[:, h * dh:(h + 1) * dh].T * np.float32(1 / np.sqrt(dh))
        if causal:
            s = s + np.triu(np.full(s.shape, -np.inf, dtype=np.float32), 1)
        s = np.exp(s - s.max(axis=1, keepdims=True))
        s /= s.sum(axis=1, keepdims=True)
        out[:, h * dvh:(h + 1) * dvh] = s @ v[:, h * dvh:(h + 1) * dvh]
    return out


def torch_attention(q, k, v, heads=1, causal=False):
    def split(x):
        n, d = x.shape
        return x.view(n, heads, d // heads).transpose(0, 1).unsqueeze(0)
    o = torch.nn.functional.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=causal)
    return o.squeeze(0).transpose(0, 1).reshape(q.shape[0], -1)


def cases(quick):
    c = []
    for n in ([1024, 4096] if quick else [1024, 4096, 8192]):
        c.append(dict(name=f"self N={n} d=64", kind="attention", m=n, n=n, d=64, heads=1, causal=False))
    for n in ([1024] if quick else [1024, 4096, 8192]):
        c.append(dict(name=f"self N={n} 8 heads x 64", kind="attention", m=n, n=n, d=512, heads=8, causal=False))
    c.append(dict(name="causal N=4096 d=64", kind="attention", m=4096, n=4096, d=64, heads=1, causal=True))
    for n in ([16384] if quick else [16384, 262144, 1048576]):
        c.append(dict(name=f"cross 256 x {n // 1024}k d=64", kind="attention", m=256, n=n, d=64, heads=1, causal=False))
    for n in ([1024] if quick else [1024, 2048]):
        c.append(dict(name=f"GEMM {n}^3", kind="gemm", m=n, n=n, d=n))
    return c


def flops(case):
    if case["kind"] == "gemm":
        return 2 * case["m"] * case["n"] * case["d"]
    pairs = case["m"] * (case["n"] + 1) / 2 if case["causal"] else case["m"] * case["n"]
    return 4 * pairs * case["d"]


def repeats(case):
    return 3 if flops(case) > 2e10 else 5


def pause():
    """Lets the previous library's spinning idle threads go to sleep."""
    time.sleep(0.5)


# The attn line that measures the FMA peak (all threads), and how its output is read back.
PEAK_LINE = 'print("PEAK", fma_peak(ms=300))'


def read_peak(stdout):
    return float(re.search(r"PEAK (\S+)", stdout).group(1))


def fma_peak(attn, work):
    """The machine's vector FMA peak in GFLOP/s right now, after a pause."""
    pause()
    with open(f"{work}/peak.attn", "w") as f:
        f.write(PEAK_LINE + "\n")
    return read_peak(subprocess.run([attn, "run", f"{work}/peak.attn"], check=True, capture_output=True, text=True).stdout)


def peak_rss_mib(attn, script):
    """Peak resident memory of one `attn run script`, measured in a fresh Python child."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, attn, "run", script], check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--attn", default=".build/release/attn")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="attn/NumPy/PyTorch rounds per case")
    parser.add_argument("--only", help="run only the cases whose name contains this text (no memory measurement)")
    parser.add_argument("--out", help="also write the Markdown table here")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    work = tempfile.mkdtemp(prefix="attn-bench-")
    rows = []
    # Cases run one at a time, attn then NumPy then PyTorch on the same arrays, so that the
    # drift of a shared machine affects the three alike and the ratios stay meaningful.
    selected = [c for c in cases(args.quick) if not args.only or args.only.lower() in c["name"].lower()]
    if not selected:
        sys.exit(f"no case name contains {args.only!r}; the cases: " + ", ".join(c["name"] for c in cases(args.quick)))
    for i, case in enumerate(selected):
        if case["kind"] == "gemm":
            a = rng.standard_normal((case["m"], case["d"]), dtype=np.float32)
            b = rng.standard_normal((case["d"], case["n"]), dtype=np.float32)
            np.save(f"{work}/a.npy", a); np.save(f"{work}/b.npy", b)
            script = ['a = load("a.npy"); b = load("b.npy")', "op = fn() => a @ b"]
        else:
            q = rng.standard_normal((case["m"], case["d"]), dtype=np.float32)
            k = rng.standard_normal((case["n"], case["d"]), dtype=np.float32)
            v = rng.standard_normal((case["n"], case["d"]), dtype=np.float32)
            for name, x in zip("qkv", (q, k, v)):
                np.save(f"{work}/{name}.npy", x)
            call = f'attention(q, k, v, heads={case["heads"]}, causal={"true" if case["causal"] else "false"})'
            script = ['q = load("q.npy"); k = load("k.npy"); v = load("v.npy")', f"op = fn() => {call}"]
        script += [PEAK_LINE, f"ms = bench(op, repeat={repeats(case)})", 'save(op(), "out.npy")', 'print("RESULT", ms)']
        with open(f"{work}/case.attn", "w") as f:
            f.write("\n".join(script) + "\n")
        if case["kind"] == "gemm":
            np_op = lambda: a @ b
            torch_op = (lambda: torch.from_numpy(a) @ torch.from_numpy(b)) if torch else None
        else:
            h, c = case["heads"], case["causal"]
            np_op = (lambda: np_attention(q, k, v, h, c)) if case["m"] * case["n"] <= 2**28 else None
            if torch:
                tq, tk, tv = (torch.from_numpy(t) for t in (q, k, v))
                torch_op = lambda: torch_attention(tq, tk, tv, h, c)
            else:
                torch_op = None
        attn_times, np_times, torch_times = [], [], []
        attn_peaks, np_peaks, torch_peaks = [], [], []
        for _ in range(args.rounds):
            pause()
            proc = subprocess.run([args.attn, "run", f"{work}/case.attn"], capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit("attn failed:\n" + proc.stdout + proc.stderr)
            attn_times.append(float(re.search(r"RESULT (\S+)", proc.stdout).group(1)))
            attn_peaks.append(read_peak(proc.stdout))
            if np_op:
                np_peaks.append(fma_peak(args.attn, work))
                np_times.append(median_ms(np_op, repeats(case)))
            if torch_op:
                torch_peaks.append(fma_peak(args.attn, work))
                torch_times.append(median_ms(torch_op, repeats(case)))
        out = np.load(f"{work}/out.npy")
        if case["kind"] == "gemm":
            ref = a.astype(np.float64) @ b.astype(np.float64)
        else:
            ref = np_attention(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), h, c) if case["m"] * case["n"] <= 2**27 else None
            if ref is None and torch:
                ref = torch_attention(tq.double(), tk.double(), tv.double(), h, c).numpy()
        err = float(np.linalg.norm(out - ref) / np.linalg.norm(ref)) if ref is not None else float("nan")
        rows.append((case["name"], attn_times, np_times, torch_times, flops(case), err, (attn_peaks, np_peaks, torch_peaks)))
        print(f"done: {case['name']}", file=sys.stderr)

    median = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2

    def speedup(peer, own):
        """Median and range of the per-round ratios peer time / attn time."""
        if not peer:
            return "skipped"
        ratios = [p / a for p, a in zip(peer, own)]
        return f"{median(ratios):.2f}" + (f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else "")

    fmt = lambda xs: f"{median(xs):.2f}" if xs else "skipped"
    lines = ["| case | attn ms | attn GFLOP/s | NumPy ms | attn/NumPy speed-up | PyTorch ms | attn/PyTorch speed-up | rel. err |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, own, np_, torch_, work_flops, err, _ in rows:
        lines.append(f"| {name} | {fmt(own)} | {work_flops / median(own) / 1e6:.0f} | {fmt(np_)} | {speedup(np_, own)} | "
                     f"{fmt(torch_)} | {speedup(torch_, own)} | {err:.1e} |")

    def of_peak(times, work_flops, peaks):
        """Median over rounds of GFLOP/s / the FMA peak measured just before, in percent."""
        return f"{median([work_flops / t / 1e6 / p * 100 for t, p in zip(times, peaks)]):.0f}%" if times else "skipped"

    lines += ["", "| case | FMA peak GFLOP/s | attn | NumPy | PyTorch |", "|---|---:|---:|---:|---:|"]
    for name, own, np_, torch_, work_flops, _, (attn_peaks, np_peaks, torch_peaks) in rows:
        lines.append(f"| {name} | {median(attn_peaks + np_peaks + torch_peaks):.0f} | {of_peak(own, work_flops, attn_peaks)} | "
                     f"{of_peak(np_, work_flops, np_peaks)} | {of_peak(torch_, work_flops, torch_peaks)} |")
    header = [f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; rounds: {args.rounds}; "
              f"threads: {os.environ.get('ATTN_THREADS', 'all')}; NumPy {np.__version__} "
              f"(OpenBLAS kernels: {openblas_kernels()}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}); "
              f"PyTorch {torch.__version__ if torch else 'not installed (skipped)'}"]
    if not args.only:
        here = os.path.dirname(os.path.abspath(__file__))
        with_attention = peak_rss_mib(args.attn, os.path.join(here, "memory.attn"))
        inputs_only = peak_rss_mib(args.attn, os.path.join(here, "inputs_only.attn"))
        lines += ["", f"Memory, self-attention N=65536 d=64: peak RSS {with_attention:.0f} MiB, "
                      f"{with_attention - inputs_only:.0f} MiB above the same run without attention ({inputs_only:.0f} MiB)."]
    text = "\n".join(header + [""] + lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
