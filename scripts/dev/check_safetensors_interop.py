#!/usr/bin/env python3
"""Weights move between attn and PyTorch: attn writes a model's weights, PyTorch reads them
(safetensors.torch) and writes them back doubled in float16 and bfloat16, and attn loads those
into a fresh model and compares. Needs torch and safetensors (pip install torch safetensors).

    python3 scripts/dev/check_safetensors_interop.py [--attn .build/release/attn]
"""
import argparse, os, subprocess, sys, tempfile

import torch
from safetensors.torch import load_file, save_file

parser = argparse.ArgumentParser()
parser.add_argument("--attn", default=os.path.join(os.path.dirname(__file__), "..", "..", ".build", "release", "attn"))
args = parser.parse_args()
folder = tempfile.mkdtemp()
path = lambda name: os.path.join(folder, name)

def attn(script):
    with open(path("check.attn"), "w") as f:
        f.write(script)
    return subprocess.run([args.attn, "run", path("check.attn")], capture_output=True, text=True, check=True).stdout

model = 'task = copy_task(len=8, vocab=8)\nm = transformer(task, dim=32, layers=1, heads=2, seed={seed})\n'
attn(model.format(seed=1) + f'save_weights(m, "{path("w.safetensors")}")\n')
weights = load_file(path("w.safetensors"))
print(f"PyTorch read {len(weights)} tensors, e.g. head.weight {tuple(weights['head.weight'].shape)} {weights['head.weight'].dtype}")
for dtype in (torch.float16, torch.bfloat16):
    save_file({k: (2 * v).to(dtype) for k, v in weights.items()}, path(f"{dtype}.safetensors"))
out = attn(model.format(seed=1) + "w = params(m)\n" + model.replace("m =", "m2 =").format(seed=5) + "".join(
    f'load_weights(m2, "{path(f"{dtype}.safetensors")}")\nprint("{dtype}", relerr(params(m2)["head.weight"], 2 * w["head.weight"]))\n'
    for dtype in (torch.float16, torch.bfloat16)))
errors = {line.split()[0]: float(line.split()[1]) for line in out.splitlines() if line.startswith("torch.")}
print("attn loaded PyTorch's files; relative error against 2 w:", errors)
ok = errors.get("torch.float16", 1) < 1e-3 and errors.get("torch.bfloat16", 1) < 1e-2
print("OK" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
