"""Structured linear algebra side by side: randomized SVD against LAPACK, numpy and PyTorch;
the resolvent diagonal against a batched PyTorch recursion; semiseparable matvec against numpy's
dense product. Every row pairs a time with the error it reaches.

Usage: PYTHONPATH=build/python python3 bench/compare/compare_linalg.py [--repetitions 7]
"""

import argparse
import math

import numpy as np

import structseq
from common import markdown_table, median_seconds

try:
    import torch
except ImportError:
    torch = None


def low_rank_plus_noise(rng, batch, m, n, k):
    """U diag(σ) Vᵀ with σ = 10·0.8^j for j < k, then a 0.05 noise floor; and the optimal
    rank-k Frobenius error of each matrix."""
    r = min(m, n)
    j = np.arange(r)
    sigma = np.where(j < k, 10 * 0.8**j, 0.05 * 0.98**j)
    U = np.linalg.qr(rng.standard_normal((batch, m, r)))[0]
    V = np.linalg.qr(rng.standard_normal((batch, n, r)))[0]
    return (U * sigma) @ V.transpose(0, 2, 1), math.sqrt(np.sum(sigma[k:] ** 2))


def set_threads(t):
    structseq.set_num_threads(t)
    if torch is not None:
        torch.set_num_threads(t)


def svd_table(args, rng):
    batch, m, n, k = 8, 512, 128, 16
    M64, optimal = low_rank_plus_noise(rng, batch, m, n, k)
    M = M64.astype(np.float32)
    tM = torch.from_numpy(M) if torch is not None else None

    def error_of(U, S, Vh):
        approx = (np.asarray(U, dtype=np.float64)[..., :k] * np.asarray(S)[:, None, :k]) @ np.asarray(Vh)[:, :k, :]
        return float(np.max(np.linalg.norm(approx - M64, axis=(1, 2))) / optimal)

    cases = [
        ("structseq.batched_randomized_svd (k=16, n_iter=2, p=5)",
         lambda: structseq.batched_randomized_svd(M, k, n_iter=2, oversampling=5)),
        ("structseq.full_svd (LAPACK sgesdd)", lambda: structseq.full_svd(M)),
        ("numpy.linalg.svd (full_matrices=False)", lambda: np.linalg.svd(M, full_matrices=False)),
    ]
    if torch is not None:
        cases += [
            ("torch.linalg.svd (full_matrices=False)",
             lambda: [x.numpy() for x in torch.linalg.svd(tM, full_matrices=False)]),
            ("torch.svd_lowrank (q=21, niter=2)",
             lambda: (lambda U, S, V: (U.numpy(), S.numpy(), V.transpose(1, 2).numpy()))(
                 *torch.svd_lowrank(tM, q=k + 5, niter=2))),
        ]
    thread_counts = sorted({1, args.threads})
    times = {}
    for t in thread_counts:
        set_threads(t)
        for name, fn in cases:
            times[name, t] = median_seconds(fn, args.repetitions)
    set_threads(args.threads)
    ours = cases[0][0]
    full = cases[1][0]
    rows = []
    for name, fn in cases:
        row = [name]
        for t in thread_counts:
            row.append(f"{times[name, t] * 1e3:.2f}")
        for t in thread_counts:
            row.append(f"{times[name, t] / times[ours, t]:.1f}×")
        row.append(f"{error_of(*fn()):.4f}")
        rows.append(row)
    headers = (["implementation"] + [f"ms, {t} thr" for t in thread_counts]
               + [f"time / ours, {t} thr" for t in thread_counts] + ["max error / optimal rank-16 error"])
    print(f"Batched SVD of (8, 512, 128) float32, low rank plus noise; median of {args.repetitions}.\n")
    print(markdown_table(headers, rows))
    for t in thread_counts:
        print(f"\nfull_svd / randomized at {t} thread(s): {times[full, t] / times[ours, t]:.1f}×", end="")
    print()


def torch_resolvent_recursion(a, b, c, z):
    """Pivot-form recursion in PyTorch: a Python loop over N, vectorized over the batch."""
    n = a.shape[1]
    az = a.to(torch.complex128) - z
    bc = (b * c).to(torch.complex128)
    d = [az[:, 0]]
    for i in range(1, n):
        d.append(az[:, i] - bc[i - 1] / d[-1])
    g = [None] * n
    g[n - 1] = 1 / d[n - 1]
    e = az[:, n - 1]
    for i in range(n - 2, -1, -1):
        q = bc[i] / e
        g[i] = 1 / (d[i] - q)
        e = az[:, i] - q
    return torch.stack(g, dim=1)


def resolvent_table(args, rng):
    batch, n = 64, 4096
    a = rng.standard_normal((batch, n))
    off = -np.ones(n - 1)
    z = 1j
    set_threads(1)
    ours_s = median_seconds(lambda: structseq.tridiagonal_resolvent_diagonal(a, off, off, z), args.repetitions)
    ours = structseq.tridiagonal_resolvent_diagonal(a, off, off, z)
    rows = [("structseq.tridiagonal_resolvent_diagonal (1 thread)", f"{ours_s / (batch * n) * 1e9:.2f}", "1.0×", "—")]
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(off)
        peer_s = median_seconds(lambda: torch_resolvent_recursion(ta, tb, tb, z), max(3, args.repetitions // 2))
        peer = torch_resolvent_recursion(ta, tb, tb, z).numpy()
        diff = float(np.max(np.abs(peer - ours)) / np.max(np.abs(ours)))
        rows.append(("PyTorch batched recursion (loop over N, 1 thread)",
                     f"{peer_s / (batch * n) * 1e9:.1f}", f"{peer_s / ours_s:.0f}×", f"{diff:.1e}"))
    set_threads(args.threads)
    print(f"\nResolvent diagonal, B = {batch}, N = {n}, complex128, Laplacian off-diagonals, z = i; "
          f"median of {args.repetitions}.\n")
    print(markdown_table(["implementation", "ns per element", "time / ours", "max |diff| / max |G|"], rows))


def matvec_table(args, rng):
    rows = []
    set_threads(1)
    for log2n in (10, 12, 13):
        n = 1 << log2n
        r = math.ceil(math.log2(n))
        parts = [rng.standard_normal(n), rng.standard_normal(n - 1), rng.standard_normal(n - 1),
                 rng.standard_normal((n, r)), rng.standard_normal((n, r))]
        H = structseq.SemiseparableMatrix(*parts)
        dense = H.to_dense()
        x = rng.standard_normal(n)
        ours = median_seconds(lambda: H.matvec(x), args.repetitions)
        peer = median_seconds(lambda: dense @ x, args.repetitions)
        err = float(np.max(np.abs(H.matvec(x) - dense @ x)) / np.max(np.abs(dense @ x)))
        rows.append((n, r, f"{ours * 1e6:.1f}", f"{peer * 1e6:.1f}", f"{peer / ours:.0f}×", f"{err:.1e}"))
    set_threads(args.threads)
    print(f"\nSemiseparable matvec against numpy's dense product (float64, 1 thread, median of {args.repetitions}).\n")
    print(markdown_table(["N", "r", "structseq µs", "numpy dense µs", "speed-up", "max rel diff"], rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=7)
    args = parser.parse_args()
    args.threads = structseq.get_num_threads()
    if torch is None:
        print("torch is not installed (scripts/setup.sh --bench installs it); its rows are left out\n")
    rng = np.random.default_rng(0)
    svd_table(args, rng)
    resolvent_table(args, rng)
    matvec_table(args, rng)


if __name__ == "__main__":
    main()
