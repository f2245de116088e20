#!/usr/bin/env python3
"""One training step of the same small model in attn and in PyTorch (CPU), in one run.

The model (attn's transformer(listops(length=256), dim=64, layers=2, heads=4)): token and
position embeddings, 2 pre-norm blocks (4-head attention with q/k/v/o projections, a GELU(tanh)
MLP of width 128), a final LayerNorm, mean pooling and a linear head; cross-entropy; AdamW.
Batch 16 x 256 tokens. Both sides report the median step time (forward, backward, update) over
the same number of steps after warm-up; attn's includes drawing its ListOps batch.

    python3 scripts/bench/train_step.py [--attn PATH] [--steps N] [--rounds R]
"""
import argparse, os, platform, re, subprocess, tempfile

from compare import median_ms, pause  # the same timing rule and pause as the kernel benchmark

try:
    import torch
    torch.set_num_threads(int(os.environ.get("ATTN_THREADS", os.cpu_count() or 1)))
except ImportError:
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))


def torch_model(vocab=17, classes=10, dim=64, layers=2, heads=4, length=256):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
            self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(approximate="tanh"), nn.Linear(2 * dim, dim))

        def forward(self, x):
            b, n, _ = x.shape
            h = self.norm1(x)
            split = lambda t: t.view(b, n, heads, dim // heads).transpose(1, 2)
            a = torch.nn.functional.scaled_dot_product_attention(split(self.q(h)), split(self.k(h)), split(self.v(h)))
            x = x + self.o(a.transpose(1, 2).reshape(b, n, dim))
            return x + self.mlp(self.norm2(x))

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens, self.positions = nn.Embedding(vocab, dim), nn.Embedding(length, dim)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)

        def forward(self, ids):
            x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1]))
            for block in self.blocks:
                x = block(x)
            return self.head(self.norm(x).mean(dim=1))

    return Classifier()


def time_torch(steps, batch=16, length=256):
    model = torch_model(length=length)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 17, (batch, length), generator=generator)
    labels = torch.randint(0, 10, (batch,), generator=generator)

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(ids), labels)
        loss.backward()
        optimizer.step()

    step()  # a second warm-up step (median_ms does one)
    return sum(p.numel() for p in model.parameters()), median_ms(step, steps)


def time_attn(path, steps):
    with tempfile.NamedTemporaryFile("w", suffix=".attn", delete=False) as wrapper:
        # The script reads `steps` through param(), so a wrapper can set it.
        wrapper.write(f'steps = {steps}\ninclude("{os.path.join(HERE, "train_step.attn")}")\n')
    text = subprocess.run([path, "run", wrapper.name], check=True, capture_output=True, text=True).stdout
    os.unlink(wrapper.name)
    return int(re.search(r"params (\d+)", text).group(1)), float(re.search(r"median_ms ([\d.e+-]+)", text).group(1))


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--attn", default=os.path.join(HERE, "..", "..", ".build", "release", "attn"))
    parser.add_argument("--steps", type=int, default=30)
    # The machine is shared and its speed drifts: the two sides alternate, round by round.
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                if l.startswith("Model name")), platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} cores; threads: {os.environ.get('ATTN_THREADS', os.cpu_count())}")
    attn_ms, torch_ms = [], []
    for _ in range(args.rounds):
        # A pause before each side's turn: PyTorch's idle threads keep spinning for a while after
        # its work and would take a core from the next side (docs/benchmarks.md, seventh session).
        pause()
        attn_params, ms = time_attn(args.attn, args.steps)
        attn_ms.append(ms)
        if torch is not None:
            pause()
            torch_params, ms = time_torch(args.steps)
            torch_ms.append(ms)
    print(f"median of {args.steps} steps per round, {args.rounds} rounds alternating")
    print("| step (batch 16 x 256, d 64, 2 layers, 4 heads) | params | median ms (rounds) | attn speed-up |")
    print("|---|---:|---:|---:|")
    rounds = lambda values: ", ".join(f"{v:.1f}" for v in values)
    print(f"| attn | {attn_params} | {median(attn_ms):.1f} ({rounds(attn_ms)}) | |")
    if torch is None:
        print("| PyTorch | skipped (torch not installed) | | |")
        return
    per_round = [t / a for a, t in zip(attn_ms, torch_ms)]
    print(f"| PyTorch {torch.__version__} | {torch_params} | {median(torch_ms):.1f} ({rounds(torch_ms)}) | "
          f"{median(torch_ms) / median(attn_ms):.2f}x (rounds {min(per_round):.2f}-{max(per_round):.2f}x) |")


if __name__ == "__main__":
    main()
