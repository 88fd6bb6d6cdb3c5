"""Shared fixtures: the structseq CLI binary and a helper to run it."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def structseq_bin():
    path = pathlib.Path(os.environ.get("STRUCTSEQ_BIN", ROOT / "build" / "bin" / "structseq"))
    assert path.exists(), f"{path} does not exist: run `make` first or set STRUCTSEQ_BIN"
    return path


@pytest.fixture
def run_cli(structseq_bin):
    def run(*args, timeout=60):
        return subprocess.run(
            [str(structseq_bin), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    return run
