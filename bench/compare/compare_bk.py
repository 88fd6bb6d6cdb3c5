"""BK-Core side by side with PyTorch: the same pivot-form recursion written with torch ops
(a Python loop over N, vectorized over the batch), forward and autograd backward, against
structseq.BirmanSchwingerCore. Quality: the largest difference of features and of grad_v.

Usage: PYTHONPATH=build/python python3 bench/compare/compare_bk.py [--repetitions 5]
"""

import argparse

import numpy as np

import structseq
from common import markdown_table, median_seconds

try:
    import torch
except ImportError:
    torch = None


def torch_features(v, z):
    """Bidirectional BK features of H = Laplacian + diag(v), (B, N) -> (B, N, 2)."""
    n = v.shape[1]
    alpha = (2.0 + v).to(torch.complex128) - z
    d = [alpha[:, 0]]
    for i in range(1, n):
        d.append(alpha[:, i] - 1.0 / d[-1])  # b c = (-1)(-1) = 1
    g = [None] * n
    g[n - 1] = 1 / d[n - 1]
    e = alpha[:, n - 1]
    for i in range(n - 2, -1, -1):
        q = 1.0 / e
        g[i] = 1 / (d[i] - q)
        e = alpha[:, i] - q
    G = torch.stack(g, dim=1)
    return torch.stack([G.real, G.imag], dim=-1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    if torch is None:
        print("torch is not installed (scripts/setup.sh --bench installs it); nothing to compare")
        return
    threads = structseq.get_num_threads()
    structseq.set_num_threads(1)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for batch, n in [(64, 1024), (64, 4096)]:
        v = rng.standard_normal((batch, n))
        w = rng.standard_normal((batch, n, 2))
        core = structseq.BirmanSchwingerCore(n, z=1j)
        ours_f = median_seconds(lambda: core.forward(v), args.repetitions)

        def ours_step():
            core.forward(v)
            return core.backward(w)

        ours_fb = median_seconds(ours_step, args.repetitions)
        tv = torch.from_numpy(v)
        tw = torch.from_numpy(w)
        with torch.no_grad():
            peer_f = median_seconds(lambda: torch_features(tv, 1j), max(2, args.repetitions // 2))

        def peer_step():
            x = tv.clone().requires_grad_(True)
            (torch_features(x, 1j) * tw).sum().backward()
            return x.grad

        peer_fb = median_seconds(peer_step, max(2, args.repetitions // 2))
        features, _ = core.forward(v)
        grad_ours = core.backward(w)
        with torch.no_grad():
            features_peer = torch_features(tv, 1j).numpy()
        grad_peer = peer_step().numpy()
        per = batch * n / 1e9
        rows.append((f"{batch} × {n}", f"{ours_f / per:.1f}", f"{peer_f / per:.0f}",
                     f"{peer_f / ours_f:.0f}×", f"{ours_fb / per:.1f}", f"{peer_fb / per:.0f}",
                     f"{peer_fb / ours_fb:.0f}×",
                     f"{np.max(np.abs(features - features_peer)):.1e}",
                     f"{np.max(np.abs(grad_ours - grad_peer)) / np.max(np.abs(grad_peer)):.1e}"))
    structseq.set_num_threads(threads)
    print(f"BK-Core, bidirectional, Laplacian + random potential, z = i, complex128, one thread; "
          f"ns per position, medians.\n")
    print(markdown_table(["B × N", "ours fwd", "torch fwd", "ratio", "ours fwd+bwd",
                          "torch fwd+bwd (autograd)", "ratio", "max |Δ features|",
                          "max |Δ grad_v| / max |grad_v|"], rows))


if __name__ == "__main__":
    main()
