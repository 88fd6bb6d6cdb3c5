"""safetensors and .npy loading: structseq against the safetensors library and numpy.

Each row loads the same file; the quality column checks that every value matches.
Usage: PYTHONPATH=build/python python3 bench/compare/compare_io.py [--mib 64]
"""

import argparse
import os
import tempfile

import numpy as np
import safetensors.numpy

import structseq
from common import markdown_table, median_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64, help="size of the test file in MiB")
    parser.add_argument("--repetitions", type=int, default=7)
    args = parser.parse_args()

    rows = args.mib * (1 << 20) // (4 * 1024)
    tensors = {"embedding.weight": np.random.default_rng(0).standard_normal((rows, 1024), dtype=np.float32)}
    with tempfile.TemporaryDirectory() as folder:
        st_path = os.path.join(folder, "m.safetensors")
        npy_path = os.path.join(folder, "m.npy")
        safetensors.numpy.save_file(tensors, st_path)
        np.save(npy_path, tensors["embedding.weight"])

        def check(loaded):
            return "exact" if np.array_equal(loaded, tensors["embedding.weight"]) else "MISMATCH"

        cases = [
            ("safetensors load", "structseq.load_safetensors", lambda: structseq.load_safetensors(st_path)["embedding.weight"]),
            ("safetensors load", "safetensors.numpy.load_file", lambda: safetensors.numpy.load_file(st_path)["embedding.weight"]),
            ("npy load", "structseq.load_npy", lambda: structseq.load_npy(npy_path)),
            ("npy load", "numpy.load", lambda: np.load(npy_path)),
        ]
        results = []
        for task, name, fn in cases:
            seconds = median_seconds(fn, args.repetitions)
            results.append((task, name, f"{seconds * 1e3:.1f}", f"{args.mib / 1024 / seconds:.2f}", check(fn())))
    print(f"File of {args.mib} MiB (float32), median of {args.repetitions} runs, page cache warm.\n")
    print(markdown_table(["task", "implementation", "ms", "GiB/s", "values"], results))


if __name__ == "__main__":
    main()
