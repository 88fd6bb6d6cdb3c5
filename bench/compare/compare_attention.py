"""Causal ridge attention side by side: structseq's chunked and Sherman–Morrison forms, a naive
per-prefix solve (numpy, one batched solve per block of prefixes) and a PyTorch Sherman–Morrison
loop (one step per token, vectorized over the heads), at (heads 4, n 4096, d 64), float32, on the
same threads. Also the chunk-size sweep behind the default, the backward, and softmax attention
against torch's scaled_dot_product_attention. Accuracy: relative L2 error against the float64
per-prefix solve.

Usage: PYTHONPATH=build/python python3 bench/compare/compare_attention.py [--threads 1]
       [--n 4096] [--d 64] [--heads 4] [--repetitions 5] [--no-sweep]
The float32 drift case of docs/attention.md: ... --drift --n 65536 --d 16
The float32 error of both forms as the keys' Gram matrix gets ill-conditioned: ... --conditioning
"""

import argparse

import numpy as np

import structseq
from common import markdown_table, median_seconds

try:
    import torch
except ImportError:
    torch = None


def naive_per_prefix(q, k, v, lam, block=256):
    """out_t = q_tᵀ (K_tᵀK_t + λI)⁻¹ K_tᵀ V_t, one np.linalg.solve per prefix, float64."""
    heads, n, d = q.shape
    out = np.empty((heads, n, v.shape[-1]))
    M = np.broadcast_to(lam * np.eye(d), (heads, d, d)).copy()
    b = np.zeros((heads, d, v.shape[-1]))
    for t0 in range(0, n, block):
        kk, vv, qq = k[:, t0 : t0 + block], v[:, t0 : t0 + block], q[:, t0 : t0 + block]
        Ms = M[:, None] + np.cumsum(kk[..., :, None] * kk[..., None, :], axis=1)
        bs = b[:, None] + np.cumsum(kk[..., :, None] * vv[..., None, :], axis=1)
        w = np.linalg.solve(Ms, qq[..., None])[..., 0]
        out[:, t0 : t0 + block] = np.einsum("htd,htdv->htv", w, bs)
        M, b = Ms[:, -1], bs[:, -1]
    return out


def torch_sherman_morrison(q, k, v, lam):
    """The textbook recursion in float32: P ← P − (P k)(P k)ᵀ / (1 + kᵀ P k), b ← b + k vᵀ."""
    heads, n, d = q.shape
    P = torch.eye(d).repeat(heads, 1, 1) / lam
    b = torch.zeros(heads, d, v.shape[-1])
    out = torch.empty(heads, n, v.shape[-1])
    for t in range(n):
        kt = k[:, t, :, None]
        u = P @ kt
        P = P - (u @ u.transpose(1, 2)) / (1 + kt.transpose(1, 2) @ u)
        b = b + kt @ v[:, t, None, :]
        out[:, t] = ((P @ q[:, t, :, None]).transpose(1, 2) @ b)[:, 0]
    return out


def relative_error(x, reference):
    return float(np.linalg.norm(np.asarray(x, np.float64) - reference) / np.linalg.norm(reference))


def drift(args):
    """Relative error against the float64 per-prefix solve over the whole sequence and its last
    1024 tokens: a plain float32 recursion's error grows along the sequence, ours should not."""
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((3, 1, args.n, args.d)).astype(np.float32)
    reference = naive_per_prefix(q.astype(np.float64), k.astype(np.float64),
                                 v.astype(np.float64), 1.0)
    tail = slice(max(0, args.n - 1024), args.n)
    rows = []
    candidates = [
        ("structseq chunked", lambda: structseq.ridge_attention(q[None], k[None], v[None], 1.0)[0]),
        ("structseq Sherman–Morrison (float64 refresh)", lambda: structseq.ridge_attention(
            q[None], k[None], v[None], 1.0, method="sherman_morrison")[0]),
    ]
    if torch is not None:
        candidates.insert(0, ("PyTorch Sherman–Morrison loop, float32", lambda: torch_sherman_morrison(
            *(torch.from_numpy(x) for x in (q, k, v)), 1.0).numpy()))
    for name, run in candidates:
        out = run()
        rows.append([name, f"{relative_error(out, reference):.1e}",
                     f"{relative_error(out[:, tail], reference[:, tail]):.1e}"])
    print(f"ridge attention, causal, n {args.n}, d {args.d}, q, k, v standard normal, λ 1, "
          "float32; relative L2 error against the float64 per-prefix solve\n")
    print(markdown_table(["form", "whole sequence", "last 1024 tokens"], rows))


def conditioning(args):
    """float32 error of the chunked and Sherman–Morrison forms against the float64 per-prefix solve
    for keys of low rank plus 1e-3 noise and small λ: M = λI + KᵀK ill-conditioned."""
    rng = np.random.default_rng(0)
    heads, n, d = 2, args.n, args.d
    rows = []
    for lam, rank in [(1.0, d), (1e-2, d), (1e-3, 8), (1e-4, 32)]:
        basis = rng.standard_normal((rank, d))
        k = rng.standard_normal((heads, n, rank)) @ basis / np.sqrt(d)
        k += 1e-3 * rng.standard_normal((heads, n, d))
        q = rng.standard_normal((heads, n, d)) / 8
        v = rng.standard_normal((heads, n, d))
        reference = naive_per_prefix(q, k, v, lam)
        row = [f"{lam:g}", str(rank)]
        for method in ("chunked", "sherman_morrison"):
            out = structseq.ridge_attention(*(x.astype(np.float32)[None] for x in (q, k, v)), lam,
                                            method=method)[0]
            row.append(f"{relative_error(out, reference):.1e}")
        rows.append(row)
    print(f"ridge attention, causal, heads {heads}, n {n}, d {d}, float32; keys rank r plus 1e-3 "
          "noise; relative L2 error against the float64 per-prefix solve\n")
    print(markdown_table(["λ", "r", "chunked", "Sherman–Morrison"], rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--no-sweep", action="store_true", help="skip the chunk-size sweep")
    parser.add_argument("--drift", action="store_true",
                        help="only the float32 accuracy along the sequence, standard-normal q, k, v "
                             "(the long-sequence case of docs/attention.md: --drift --n 65536 --d 16)")
    parser.add_argument("--conditioning", action="store_true",
                        help="only the float32 error of both forms on ill-conditioned keys "
                             "(docs/attention.md: --conditioning --n 2048)")
    args = parser.parse_args()
    if args.drift:
        return drift(args)
    if args.conditioning:
        return conditioning(args)
    structseq.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((3, args.heads, args.n, args.d)) / np.sqrt(args.d)).astype(
        np.float32)
    lam = 1.0
    reps = args.repetitions
    print(f"ridge attention, causal, heads {args.heads}, n {args.n}, d {args.d}, float32, "
          f"λ {lam}, {args.threads} thread(s); medians of {reps}\n")

    reference = naive_per_prefix(q.astype(np.float64), k.astype(np.float64),
                                 v.astype(np.float64), lam)
    t_naive = median_seconds(lambda: naive_per_prefix(q, k, v, lam), repetitions=1, warmup=0)
    rows = [["naive per-prefix solve (numpy)", f"{t_naive * 1e3:.0f}", "1.0×", "(reference)"]]
    q4, k4, v4 = q[None], k[None], v[None]

    def ours(**kw):
        return structseq.ridge_attention(q4, k4, v4, lam, **kw)

    t_chunked = median_seconds(lambda: ours(), repetitions=reps)
    t_sm = median_seconds(lambda: ours(method="sherman_morrison"), repetitions=reps)
    t_torch = None
    if torch is not None:
        tq, tk, tv = map(torch.from_numpy, (q, k, v))
        t_torch = median_seconds(lambda: torch_sherman_morrison(tq, tk, tv, lam), repetitions=3)
        err = relative_error(torch_sherman_morrison(tq, tk, tv, lam).numpy(), reference)
        rows.append(["PyTorch Sherman–Morrison loop, float32", f"{t_torch * 1e3:.0f}",
                     f"{t_naive / t_torch:.1f}×", f"{err:.1e}"])
    for label, t, kw in (("structseq Sherman–Morrison (float64 refresh)", t_sm,
                          {"method": "sherman_morrison"}),
                         ("structseq chunked (C = 64)", t_chunked, {})):
        rows.append([label, f"{t * 1e3:.1f}", f"{t_naive / t:.0f}×",
                     f"{relative_error(ours(**kw)[0], reference):.1e}"])
    print(markdown_table(["forward", "ms", "vs naive", "rel. error vs float64"], rows))
    if t_torch is not None:
        print(f"\nchunked vs PyTorch loop: {t_torch / t_chunked:.0f}×; "
              f"Sherman–Morrison vs PyTorch loop: {t_torch / t_sm:.0f}×")

    sweep = []
    for chunk in () if args.no_sweep else (8, 16, 32, 64, 128, 256, 512):
        t = median_seconds(lambda: ours(chunk_size=chunk), repetitions=reps)
        dout = np.ones_like(v4)
        tb = median_seconds(
            lambda: structseq.ridge_attention_backward(dout, q4, k4, v4, lam, chunk_size=chunk),
            repetitions=reps)
        sweep.append([chunk, f"{t * 1e3:.1f}", f"{tb * 1e3:.1f}",
                      f"{relative_error(ours(chunk_size=chunk)[0], reference):.1e}"])
    if sweep:
        print("\nchunk size C of the chunked form\n")
        print(markdown_table(["C", "forward ms", "backward ms", "rel. error"], sweep))

    if torch is not None and args.n <= 8192:  # torch's SDPA materializes n × n scores
        tq, tk, tv = (torch.from_numpy(x)[None] for x in (q, k, v))
        t_sdpa = median_seconds(
            lambda: torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True),
            repetitions=reps)
        t_soft = median_seconds(lambda: structseq.softmax_attention(q4, k4, v4), repetitions=reps)
        ref = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
        err = relative_error(structseq.softmax_attention(q4, k4, v4),
                             ref.numpy().astype(np.float64))
        print("\nsoftmax attention, causal, same shape\n")
        print(markdown_table(
            ["forward", "ms", "rel. difference"],
            [["torch scaled_dot_product_attention", f"{t_sdpa * 1e3:.1f}", ""],
             ["structseq softmax_attention", f"{t_soft * 1e3:.1f}", f"{err:.1e}"]]))


if __name__ == "__main__":
    main()
