"""Normal random numbers: structseq's Philox (thread-count independent) against numpy.

Usage: PYTHONPATH=build/python python3 bench/compare/compare_rng.py [--n 16777216]
"""

import argparse

import numpy as np
from scipy import stats

import structseq
from common import markdown_table, median_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1 << 24)
    parser.add_argument("--repetitions", type=int, default=7)
    args = parser.parse_args()

    threads = structseq.get_num_threads()
    cases = []
    for t in sorted({1, threads}):
        def ours(t=t):
            structseq.set_num_threads(t)
            return structseq.random_normal(args.n, seed=1, dtype="float32")
        cases.append((f"structseq.random_normal ({t} thread{'s' if t > 1 else ''})", ours))
    cases.append(("numpy Generator(Philox).standard_normal (1 thread)",
                  lambda: np.random.Generator(np.random.Philox(1)).standard_normal(args.n, dtype=np.float32)))
    cases.append(("numpy default_rng (PCG64, ziggurat; 1 thread)",
                  lambda: np.random.default_rng(1).standard_normal(args.n, dtype=np.float32)))
    try:
        import torch
    except ImportError:
        print("torch is not installed (scripts/setup.sh --bench installs it); its rows are left out\n")
    else:
        for t in sorted({1, threads}):
            def peer(t=t):
                torch.set_num_threads(t)
                return torch.randn(args.n, generator=torch.Generator().manual_seed(1)).numpy()
            cases.append((f"torch.randn (mt19937, Box-Muller; {t} thread{'s' if t > 1 else ''})", peer))
    rows = []
    for name, fn in cases:
        seconds = median_seconds(fn, args.repetitions)
        sample = fn()[:200_000].astype(np.float64)
        rows.append((name, f"{seconds * 1e3:.1f}", f"{args.n / seconds / 1e6:.0f}",
                     f"{stats.kstest(sample, 'norm').pvalue:.2f}"))
    structseq.set_num_threads(threads)
    print(f"{args.n} float32 normals, median of {args.repetitions} runs.\n")
    print(markdown_table(["implementation", "ms", "M samples/s", "KS p-value (2e5 samples)"], rows))


if __name__ == "__main__":
    main()
