"""Runs every side-by-side comparison in this folder, one after another."""

import pathlib
import runpy
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

for script in sorted(HERE.glob("compare_*.py")):
    print(f"\n## {script.stem}  (python3 bench/compare/{script.name})\n", flush=True)
    sys.argv = [str(script)]
    runpy.run_path(str(script), run_name="__main__")
