"""SSM toolkit side by side with numpy and PyTorch, the same method on both sides, one thread
each unless a row says otherwise: causal convolution (direct and FFT, and where FFT overtakes
direct), the convolution-kernel methods (recurrent, doubling, diagonal Vandermonde, DPLR at the
roots of unity) against L and n, and the linear recurrence scan at L = 10^6.

Usage: PYTHONPATH=build/python python3 bench/compare/compare_ssm.py [--repetitions 5]
"""

import argparse

import numpy as np

import structseq
from common import markdown_table, median_seconds

try:
    import torch
except ImportError:
    torch = None


# ---- convolution ------------------------------------------------------------------------------


def numpy_fft_conv(u, K):
    L = u.shape[1]
    n = 1 << (2 * L - 2).bit_length()
    spectrum = np.fft.rfft(u, n, axis=1) * np.fft.rfft(K, n, axis=0)[None]
    return np.fft.irfft(spectrum, n, axis=1)[:, :L]


def torch_direct_conv(u, K):
    # Depthwise conv1d: channels as groups, the kernel flipped, L - 1 zeros on the left.
    L, H = K.shape
    x = torch.nn.functional.pad(u.transpose(1, 2), (L - 1, 0))
    w = K.flip(0).T.unsqueeze(1)
    return torch.nn.functional.conv1d(x, w, groups=H).transpose(1, 2)


def torch_fft_conv(u, K):
    L = u.shape[1]
    n = 1 << (2 * L - 2).bit_length()
    spectrum = torch.fft.rfft(u, n, dim=1) * torch.fft.rfft(K, n, dim=0)[None]
    return torch.fft.irfft(spectrum, n, dim=1)[:, :L]


def convolution_table(reps):
    rng = np.random.default_rng(0)
    rows = []
    for L in [64, 256, 1024, 4096, 16384]:
        u = rng.standard_normal((4, L, 16)).astype(np.float32)
        K = (rng.standard_normal((L, 16)) / np.sqrt(L)).astype(np.float32)
        ours_direct = median_seconds(lambda: structseq.causal_conv(u, K, "direct"), reps) \
            if L <= 4096 else None
        ours_fft = median_seconds(lambda: structseq.causal_conv(u, K, "fft"), reps)
        numpy_fft = median_seconds(lambda: numpy_fft_conv(u, K), reps)
        tu, tK = torch.from_numpy(u), torch.from_numpy(K)
        with torch.no_grad():
            torch_direct = median_seconds(lambda: torch_direct_conv(tu, tK), reps) \
                if L <= 4096 else None
            torch_fft = median_seconds(lambda: torch_fft_conv(tu, tK), reps)
            reference = torch_direct_conv(tu.double(), tK.double()).numpy()
        error = max(np.linalg.norm(structseq.causal_conv(u, K, m) - reference) /
                    np.linalg.norm(reference) for m in ["direct", "fft"])

        def ms(x):
            return "—" if x is None else f"{x * 1e3:.3f}"

        def ratio(peer, ours):
            return "—" if peer is None or ours is None else f"{peer / ours:.1f}×"

        rows.append((L, ms(ours_direct), ms(torch_direct), ratio(torch_direct, ours_direct),
                     ms(ours_fft), ms(numpy_fft), ratio(numpy_fft, ours_fft), ms(torch_fft),
                     ratio(torch_fft, ours_fft), f"{error:.1e}"))
    print("Causal convolution, u (4, L, 16) float32, K (L, 16), ms (median):\n")
    print(markdown_table(["L", "ours direct", "torch conv1d", "ratio", "ours FFT", "numpy FFT",
                          "ratio", "torch FFT", "ratio", "max rel. error"], rows))


# ---- kernels ----------------------------------------------------------------------------------


def numpy_recurrent(A, B, C, D, L):
    K = np.empty(L)
    K[0] = D
    v = B.copy()
    for ell in range(1, L):
        K[ell] = C @ v
        v = A @ v
    return K


def numpy_doubling(A, B, C, D, L):
    X = B[:, None]
    power = A
    while X.shape[1] < L - 1:
        X = np.concatenate([X, power @ X], axis=1)
        power = power @ power
    return np.concatenate([[D], C @ X[:, :L - 1]])


def numpy_diagonal(lam, B, C, D, L):
    return np.concatenate([[D], np.power.outer(lam, np.arange(L - 1)).T @ (C * B)])


def numpy_dplr(lam, p, q, B, C, D, L):
    M = 1 << (L - 1).bit_length()
    A = np.diag(lam) - np.outer(p, q.conj())
    ct = C - C @ np.linalg.matrix_power(A, M)
    omega = np.exp(-2j * np.pi * np.arange(M) / M)
    R = 1 / (1 - omega[:, None] * lam[None, :])
    cb, cp = R @ (ct * B), R @ (ct * p)
    qb, qp = R @ (q.conj() * B), R @ (q.conj() * p)
    khat = cb - omega * cp * qb / (1 + omega * qp)
    return np.concatenate([[D], np.fft.ifft(khat)[:L - 1]])


def kernel_table(reps):
    rows = []
    for n, L in [(16, 1024), (64, 1024), (16, 16384), (64, 16384)]:
        rng = np.random.default_rng(n + L)
        A = rng.standard_normal((n, n)) * 0.5 / np.sqrt(n)
        lam = rng.uniform(-0.95, 0.95, n)
        B, C = rng.standard_normal(n), rng.standard_normal(n)
        p = 0.05 * rng.standard_normal(n)
        cases = [
            ("recurrent", lambda: structseq.ssm_kernel(A, B, C, 0.0, L, "recurrent"),
             lambda: numpy_recurrent(A, B, C, 0.0, L)),
            ("doubling", lambda: structseq.ssm_kernel(A, B, C, 0.0, L, "doubling"),
             lambda: numpy_doubling(A, B, C, 0.0, L)),
            ("diagonal", lambda: structseq.ssm_kernel(lam, B, C, 0.0, L, "diagonal"),
             lambda: numpy_diagonal(lam, B, C, 0.0, L)),
            ("dplr (r = 1)", lambda: structseq.ssm_kernel_dplr(lam, p, p, B, C, 0.0, L),
             lambda: numpy_dplr(lam.astype(complex), p.astype(complex), p.astype(complex), B, C,
                                0.0, L)),
        ]
        for name, ours, peer in cases:
            t_ours = median_seconds(ours, reps)
            t_peer = median_seconds(peer, max(2, reps // 2))
            diff = np.linalg.norm(ours() - peer()) / np.linalg.norm(peer())
            rows.append((name, n, L, f"{t_ours * 1e3:.3f}", f"{t_peer * 1e3:.3f}",
                         f"{t_peer / t_ours:.1f}×", f"{diff:.1e}"))
    print("\nConvolution kernel K (L,) of a SISO SSM with n states, float64, ms (median):\n")
    print(markdown_table(["method", "n", "L", "ours", "numpy", "ratio", "rel. difference"], rows))


# ---- scans ------------------------------------------------------------------------------------


def numpy_sequential_scan(a, b):
    h = np.empty_like(b)
    state = np.zeros(a.shape[2], a.dtype)
    for t in range(a.shape[1]):
        state = a[0, t] * state + b[0, t]
        h[0, t] = state
    return h


def numpy_chunked_scan(a, b, chunks=1000):
    """The chunked algorithm with numpy vectorized across chunks (its only parallelism)."""
    _, L, D = a.shape
    T = L // chunks
    ac, bc = a[0].reshape(chunks, T, D), b[0].reshape(chunks, T, D)
    h = np.empty_like(bc)
    prod = np.empty_like(ac)
    state, running = np.zeros((chunks, D), a.dtype), np.ones((chunks, D), a.dtype)
    for t in range(T):
        state = ac[:, t] * state + bc[:, t]
        running = running * ac[:, t]
        h[:, t], prod[:, t] = state, running
    carry = np.zeros(D, a.dtype)
    carries = np.empty((chunks, D), a.dtype)
    for c in range(chunks):
        carries[c] = carry
        carry = h[c, -1] + prod[c, -1] * carry
    return (h + prod * carries[:, None]).reshape(1, L, D)


def scan_table(reps):
    rng = np.random.default_rng(1)
    L, D = 1_000_000, 16
    b = rng.standard_normal((1, L, D)).astype(np.float32)
    rows = []
    saved = structseq.get_num_threads()
    # a in [0.5, 1]: running products vanish within a few hundred steps, so step (3) of the
    # parallel scan stops early; a in [0.99999, 1]: they do not, and step (3) runs to the end.
    for label, low in [("a ∈ [0.5, 1]", 0.5), ("a ∈ [0.99999, 1]", 0.99999)]:
        a = rng.uniform(low, 1.0, (1, L, D)).astype(np.float32)
        reference = structseq.linear_scan(a.astype(np.float64), b.astype(np.float64))
        sequential = None
        for method, threads in [("sequential", 1), ("parallel", 1), ("parallel", 2)]:
            structseq.set_num_threads(threads)
            t = median_seconds(lambda: structseq.linear_scan(a, b, method=method), reps)
            sequential = sequential or t
            h = structseq.linear_scan(a, b, method=method)
            error = np.linalg.norm(h - reference) / np.linalg.norm(reference)
            rows.append((label, f"structseq {method}", threads, f"{t * 1e3:.1f}",
                         f"{sequential / t:.2f}×", f"{error:.1e}"))
        structseq.set_num_threads(saved)
        if low == 0.5:
            t = median_seconds(lambda: numpy_sequential_scan(a, b), 1, warmup=0)
            rows.append((label, "numpy sequential (Python loop over t)", 1, f"{t * 1e3:.0f}",
                         f"{sequential / t:.3f}×", "—"))
            t = median_seconds(lambda: numpy_chunked_scan(a, b), max(2, reps // 2))
            error = np.linalg.norm(numpy_chunked_scan(a, b) - reference) / \
                np.linalg.norm(reference)
            rows.append((label, "numpy chunked (1000 chunks vectorized)", 1, f"{t * 1e3:.0f}",
                         f"{sequential / t:.2f}×", f"{error:.1e}"))
    print("\nLinear scan h_t = a_t h_(t-1) + b_t, (1, 10^6, 16) float32, ms (median); speed-up "
          "against structseq sequential on 1 thread:\n")
    print(markdown_table(["decay", "implementation", "threads", "time", "speed-up",
                          "rel. error vs float64"], rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    threads = structseq.get_num_threads()
    structseq.set_num_threads(1)
    if torch is not None:
        torch.set_num_threads(1)
        convolution_table(args.repetitions)
    else:
        print("torch is not installed (scripts/setup.sh --bench installs it); convolution "
              "table skipped")
    kernel_table(args.repetitions)
    structseq.set_num_threads(threads)
    scan_table(args.repetitions)


if __name__ == "__main__":
    main()
