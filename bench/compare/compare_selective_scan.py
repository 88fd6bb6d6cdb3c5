"""Selective scan side by side with PyTorch: mamba_ssm's selective_scan_ref written with torch
ops (the (batch, dim, L, N) discretized tensors, then a Python loop over L), forward under
no_grad and forward + backward through autograd, against structseq.selective_scan and
structseq.selective_scan_backward (the forward keeping its checkpoints and the backward starting
from them, as an autograd function would). Quality: the largest differences of the output and of every
gradient, relative to their largest entries. One thread each.

Usage: PYTHONPATH=build/python python3 bench/compare/compare_selective_scan.py [--repetitions 3]
       [--target-shapes]  (forward only at (2, 1536, 2048) and (1, 768, 8192), N 16, in ns per
                           state element: the reference takes seconds there, its backward minutes)
"""

import argparse

import numpy as np

import structseq
from common import markdown_table, median_seconds

try:
    import torch
except ImportError:
    torch = None


def torch_reference(u, delta, A, B, C, D, z, delta_bias):
    """selective_scan_ref with input-dependent B, C (batch, N, L) and delta_softplus=True."""
    delta = torch.nn.functional.softplus(delta + delta_bias[:, None])
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    x = u.new_zeros((u.shape[0], A.shape[0], A.shape[1]))
    ys = []
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    y = torch.stack(ys, dim=2) + u * D[:, None]
    return y * torch.nn.functional.silu(z)


def operands(batch, dim, L, N):
    """Mamba-like float32 operands, seeded."""
    rng = np.random.default_rng(0)
    x = dict(u=rng.standard_normal((batch, dim, L)),
             delta=rng.standard_normal((batch, dim, L)) - 2,
             A=-np.exp(rng.standard_normal((dim, N))),
             B=rng.standard_normal((batch, N, L)), C=rng.standard_normal((batch, N, L)),
             D=rng.standard_normal(dim), z=rng.standard_normal((batch, dim, L)),
             delta_bias=rng.standard_normal(dim) * 0.1)
    x = {k: v.astype(np.float32) for k, v in x.items()}
    return x, rng.standard_normal((batch, dim, L)).astype(np.float32)


def target_shapes(repetitions):
    """Forward at the target shapes: ours (median of `repetitions`) against one reference run."""
    rows = []
    for batch, dim, L, N in [(2, 1536, 2048, 16), (1, 768, 8192, 16)]:
        x, _ = operands(batch, dim, L, N)
        ours = median_seconds(lambda: structseq.selective_scan(**x, delta_softplus=True),
                              repetitions)
        t = {k: torch.from_numpy(v) for k, v in x.items()}
        with torch.no_grad():
            peer = median_seconds(lambda: torch_reference(**t), 1, warmup=0)
        elements = batch * dim * L * N
        rows.append((f"{batch}×{dim}×{L}, N={N}", f"{ours * 1e9 / elements:.3f}",
                     f"{peer * 1e9 / elements:.2f}", f"{peer / ours:.1f}×"))
    print("Selective scan forward at the target shapes, float32, ns per state element:\n")
    print(markdown_table(["batch×dim×L", "ours", "torch reference", "ratio"], rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--target-shapes", action="store_true",
                        help="forward only, at (2, 1536, 2048) and (1, 768, 8192) with N 16")
    args = parser.parse_args()
    if torch is None:
        print("torch is not installed (scripts/setup.sh --bench installs it); nothing to compare")
        return
    threads = structseq.get_num_threads()
    structseq.set_num_threads(1)
    torch.set_num_threads(1)
    if args.target_shapes:
        target_shapes(args.repetitions)
        structseq.set_num_threads(threads)
        return
    rows = []
    for batch, dim, L, N in [(1, 256, 256, 16), (1, 512, 512, 16)]:
        names = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]
        x, dout = operands(batch, dim, L, N)
        ours_f = median_seconds(lambda: structseq.selective_scan(**x, delta_softplus=True),
                                args.repetitions)

        def ours_step():
            _, checkpoints = structseq.selective_scan(**x, delta_softplus=True,
                                                      return_checkpoints=True)
            return structseq.selective_scan_backward(dout, **x, delta_softplus=True,
                                                     checkpoints=checkpoints)

        ours_fb = median_seconds(ours_step, args.repetitions)
        t = {k: torch.from_numpy(v) for k, v in x.items()}
        with torch.no_grad():
            peer_f = median_seconds(lambda: torch_reference(**t), args.repetitions)

        def peer_step():
            leaves = {k: v.clone().requires_grad_(True) for k, v in t.items()}
            (torch_reference(**leaves) * torch.from_numpy(dout)).sum().backward()
            return {k: v.grad.numpy() for k, v in leaves.items()}

        peer_fb = median_seconds(peer_step, max(1, args.repetitions // 3), warmup=0)
        # Quality in float64 on both sides.
        x64 = {k: v.astype(np.float64) for k, v in x.items()}
        t64 = {k: torch.from_numpy(v) for k, v in x64.items()}
        with torch.no_grad():
            ref = torch_reference(**t64).numpy()
        out = structseq.selective_scan(**x64, delta_softplus=True)
        leaves = {k: v.clone().requires_grad_(True) for k, v in t64.items()}
        (torch_reference(**leaves) * torch.from_numpy(dout.astype(np.float64))).sum().backward()
        grads = structseq.selective_scan_backward(dout.astype(np.float64), **x64,
                                                  delta_softplus=True)
        worst = max(np.abs(grads["d" + k] - leaves[k].grad.numpy()).max() /
                    np.abs(leaves[k].grad.numpy()).max() for k in names)
        out_err = np.abs(out - ref).max() / np.abs(ref).max()
        rows.append((f"{batch}×{dim}×{L}, N={N}", f"{ours_f * 1e3:.1f}", f"{peer_f * 1e3:.1f}",
                     f"{peer_f / ours_f:.1f}×", f"{ours_fb * 1e3:.1f}",
                     f"{peer_fb * 1e3:.1f}", f"{peer_fb / ours_fb:.1f}×",
                     f"{out_err:.1e}", f"{worst:.1e}"))
    structseq.set_num_threads(threads)
    print("Selective scan, float32, input-dependent B and C, D, z, delta_bias, softplus; ms:\n")
    print(markdown_table(["batch×dim×L", "ours fwd", "torch fwd", "ratio", "ours fwd+bwd",
                          "torch fwd+bwd (autograd)", "ratio", "out diff (f64)",
                          "worst grad diff (f64)"], rows))


if __name__ == "__main__":
    main()
