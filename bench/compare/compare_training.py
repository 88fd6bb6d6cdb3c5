"""Training side by side: `structseq train` against a PyTorch model of the same architecture,
written here from the math, on the same data in the same run.

Both train configs/tiny.yaml's model (byte-level Mamba, width 128, 4 layers, d_state 16) on the
bundled King James corpus with the same windows in the same order — this script rebuilds
structseq's document split and sample order from the same counter-based generator
(structseq.random_uniform) — with AdamW, the same cosine schedule with warmup, clipping at 1.0
and the same weight-decay groups. The PyTorch scan is the sensible step-wise loop: the state
(batch, d_inner, d_state) advanced over time slices, nothing of size (batch, d_inner, L, d_state)
formed. Reported: tokens/s of each, the ratio, final training and validation losses side by
side, and PyTorch's validation bits per byte after the wall-clock time structseq took.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=build/python python3 bench/compare/compare_training.py --threads 2
    ... --steps 10 --d-model 384 --layers 12 --batch 8 --length 256   (the 11.7 M-parameter shape)
"""

import argparse
import gzip
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

import structseq
from common import markdown_table

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("STRUCTSEQ_BIN", ROOT / "build" / "bin" / "structseq"))
VAL_SPLIT, TEST_SPLIT, SEED = 0.05, 0.05, 42
# The run's shape (configs/tiny.yaml's unless --d-model, --layers, --batch, --length say otherwise).
SHAPE = {"d": 128, "layers": 4, "batch": 16, "length": 128}


def permutation(n, seed, stream):
    """structseq's Rng(seed, stream).permutation(n): Fisher–Yates over float64 uniforms."""
    order = list(range(n))
    if n < 2:
        return order
    u = structseq.random_uniform((n - 1,), seed=seed, dtype="float64", stream=stream)
    for step, i in enumerate(range(n - 1, 0, -1)):
        j = min(i, int(u[step] * (i + 1)))
        order[i], order[j] = order[j], order[i]
    return order


def paragraphs(text):
    out, current = [], []
    for line in text.split("\n"):
        line = line[:-1] if line.endswith("\r") else line
        if line.strip(" \t") == "":
            if current:
                out.append("\n".join(current))
            current = []
        else:
            current.append(line)
    if current:
        out.append("\n".join(current))
    return out


def splits():
    """The training and validation token streams of structseq's split (byte tokenizer)."""
    docs = paragraphs(gzip.open(ROOT / "data" / "kjv.txt.gz", "rt", encoding="ascii").read())
    n = len(docs)
    share = lambda s: max(1, math.floor(s * n + 0.5)) if s > 0 else 0
    val, test = share(VAL_SPLIT), share(TEST_SPLIT)
    order = permutation(n, SEED, 0x5EED)
    stream = lambda a, b: np.frombuffer("\n\n".join(docs[order[i]] for i in range(a, b))
                                        .encode(), dtype=np.uint8).astype(np.int64)
    return stream(val + test, n), stream(0, val)


def windows(tokens):
    length = SHAPE["length"]
    count = (len(tokens) - length - 1) // length + 1
    return np.stack([tokens[w * length: w * length + length + 1] for w in range(count)])


def structseq_run(steps, threads, out):
    config = (ROOT / "configs" / "tiny.yaml").read_text()
    config = config.replace("max_steps: 1500", f"max_steps: {steps}")
    config = config.replace("eval_steps: 500", f"eval_steps: {steps}")
    config = config.replace("logging_steps: 50", f"logging_steps: {min(50, steps)}")
    config = config.replace("hidden_dim: 128", f"hidden_dim: {SHAPE['d']}")
    config = config.replace("num_layers: 4", f"num_layers: {SHAPE['layers']}")
    config = config.replace("batch_size: 16", f"batch_size: {SHAPE['batch']}")
    config = config.replace("max_seq_len: 128", f"max_seq_len: {SHAPE['length']}")
    config = config.replace("stride: 128", f"stride: {SHAPE['length']}")
    path = out / "config.yaml"
    path.write_text(config)
    start = time.perf_counter()
    subprocess.run([str(BIN), "--threads", str(threads), "--log-level", "warn", "train",
                    "--config", str(path), "--output-dir", str(out / "run"), "--no-progress"],
                   check=True, capture_output=True)
    wall = time.perf_counter() - start
    records = [json.loads(l) for l in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    val = [r for r in records if r["split"] == "val"][-1]
    tokens_per_s = sum(r["tokens_per_s"] for r in train) / len(train)
    return {"wall": wall, "tokens_per_s": tokens_per_s, "train": train[-1]["loss"],
            "val": val["loss"], "val_bpb": val["bits_per_byte"]}


def torch_model(torch, vocab=256, n=16, expand=2, k=4):
    nn, F = torch.nn, torch.nn.functional
    d, layers = SHAPE["d"], SHAPE["layers"]
    di, r = expand * d, math.ceil(d / 16)

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight

    class Mixer(nn.Module):
        def __init__(self):
            super().__init__()
            self.in_proj = nn.Linear(d, 2 * di, bias=False)
            self.conv = nn.Conv1d(di, di, k, groups=di, padding=k - 1)
            self.x_proj = nn.Linear(di, r + 2 * n, bias=False)
            self.dt_proj = nn.Linear(r, di)
            dt = torch.exp(torch.rand(di) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
            dt = dt.clamp(min=1e-4)
            with torch.no_grad():
                self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
                self.dt_proj.weight.uniform_(-r ** -0.5, r ** -0.5)
            self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1).float()).repeat(di, 1))
            self.D = nn.Parameter(torch.ones(di))
            self.out_proj = nn.Linear(di, d, bias=False)

        def forward(self, h):  # (B, L, d)
            B, L, _ = h.shape
            x, z = self.in_proj(h).chunk(2, dim=-1)
            x = F.silu(self.conv(x.transpose(1, 2))[..., :L]).transpose(1, 2)  # (B, L, di)
            dbc = self.x_proj(x)
            delta = F.softplus(self.dt_proj(dbc[..., :r]))
            Bm, Cm = dbc[..., r:r + n], dbc[..., r + n:]
            A = -torch.exp(self.A_log)
            state = x.new_zeros(B, di, n)
            ys = []
            for dt_t, x_t, b_t, c_t in zip(delta.unbind(1), x.unbind(1), Bm.unbind(1),
                                            Cm.unbind(1)):
                state = torch.exp(dt_t[..., None] * A) * state + (dt_t * x_t)[..., None] * b_t[:, None]
                ys.append((state * c_t[:, None]).sum(-1))
            y = (torch.stack(ys, 1) + x * self.D) * F.silu(z)
            return self.out_proj(y)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, d)
            self.norms = nn.ModuleList(RMSNorm() for _ in range(layers))
            self.mixers = nn.ModuleList(Mixer() for _ in range(layers))
            self.norm_f = RMSNorm()

        def forward(self, tokens):
            x = self.embedding(tokens)
            for norm, mixer in zip(self.norms, self.mixers):
                x = x + mixer(norm(x))
            return self.norm_f(x) @ self.embedding.weight.T

    return Model()


def torch_run(torch, steps, threads, budget, train_windows, val_windows):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch_model(torch)
    decay = [p for name, p in model.named_parameters()
             if not any(s in name for s in ("norm", "bias", "embedding", "A_log", ".D"))]
    selective = [p for name, p in model.named_parameters() if "x_proj" in name or "dt_proj" in name]
    others = [p for name, p in model.named_parameters()
              if not any(p is q for q in decay + selective)]
    groups = [{"params": [p for p in decay if not any(p is q for q in selective)],
               "weight_decay": 0.01, "scale": 1.0},
              {"params": [p for p in selective if any(p is q for q in decay)],
               "weight_decay": 0.01, "scale": 1.5},
              {"params": [p for p in others if not any(p is q for q in selective)]
               + [p for p in selective if not any(p is q for q in decay)],
               "weight_decay": 0.0, "scale": 1.0}]
    optimizer = torch.optim.AdamW(groups, lr=3e-3, betas=(0.9, 0.999), eps=1e-8)
    n = len(train_windows)
    orders = {}

    def lr_at(s, peak=3e-3, warmup=100, floor=0.1):
        if s < warmup:
            return peak * (s + 1) / warmup
        p = min(1.0, (s - warmup) / max(1, steps - warmup - 1))
        return peak * floor + peak * (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))

    BATCH, LENGTH = SHAPE["batch"], SHAPE["length"]

    def batch(s):
        rows = []
        for k in range(s * BATCH, (s + 1) * BATCH):
            e = k // n
            if e not in orders:
                orders[e] = permutation(n, SEED, 1000 + e)
            rows.append(train_windows[orders[e][k % n]])
        t = torch.from_numpy(np.stack(rows))
        return t[:, :-1], t[:, 1:]

    def validation():
        with torch.no_grad():
            t = torch.from_numpy(val_windows[:20 * BATCH])
            return sum(F.cross_entropy(model(t[i:i + BATCH, :-1]).reshape(-1, 256),
                                       t[i:i + BATCH, 1:].reshape(-1)).item()
                       for i in range(0, len(t), BATCH)) / math.ceil(len(t) / BATCH)

    F = torch.nn.functional
    start, at_budget, losses = time.perf_counter(), None, []
    for s in range(steps):
        x, y = batch(s)
        for g in optimizer.param_groups:
            g["lr"] = lr_at(s) * g["scale"]
        loss = F.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if at_budget is None and time.perf_counter() - start >= budget:
            at_budget = (s + 1, validation())
    wall = time.perf_counter() - start
    val = validation()
    return {"wall": wall, "tokens_per_s": steps * BATCH * LENGTH / wall,
            "parameters": sum(p.numel() for p in model.parameters()),
            "train": float(np.mean(losses[-min(50, steps):])), "val": val,
            "val_bpb": val / math.log(2), "at_budget": at_budget or (steps, val)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    args = parser.parse_args()
    SHAPE.update(d=args.d_model, layers=args.layers, batch=args.batch, length=args.length)
    try:
        import torch
    except ImportError:
        sys.exit("compare_training.py: PyTorch is not installed (make bench installs it)")
    train_tokens, val_tokens = splits()
    train_windows, val_windows = windows(train_tokens), windows(val_tokens)
    rows = []
    for threads in args.threads:
        with tempfile.TemporaryDirectory() as tmp:
            ours = structseq_run(args.steps, threads, pathlib.Path(tmp))
        theirs = torch_run(torch, args.steps, threads, ours["wall"], train_windows, val_windows)
        step, bpb_loss = theirs["at_budget"]
        rows.append([threads, args.steps, f"{ours['tokens_per_s']:.0f}",
                     f"{theirs['tokens_per_s']:.0f}",
                     f"{ours['tokens_per_s'] / theirs['tokens_per_s']:.1f}×",
                     f"{ours['train']:.3f} / {theirs['train']:.3f}",
                     f"{ours['val']:.3f} / {theirs['val']:.3f}",
                     f"{ours['val_bpb']:.3f} / {bpb_loss / math.log(2):.3f} (step {step})"])
    print(f"d_model {SHAPE['d']}, {SHAPE['layers']} layers, batch {SHAPE['batch']} × "
          f"{SHAPE['length']}, {args.steps} steps; PyTorch model {theirs['parameters'] / 1e6:.2f} M "
          f"parameters")
    print(markdown_table(
        ["threads", "steps", "structseq tok/s", "PyTorch tok/s", "ratio",
         "train loss (last log / last 50), ours / torch", "val loss ours / torch",
         f"val bits per byte after structseq's wall time, ours / torch"], rows))


if __name__ == "__main__":
    main()
