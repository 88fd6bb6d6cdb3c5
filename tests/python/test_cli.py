"""End-to-end runs of the structseq command line, malformed inputs included."""

import json
import struct

import numpy as np
import pytest

import structseq


def test_help_lists_the_subcommands(run_cli):
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("demo", "info", "inspect", "eval", "train", "generate", "create-synthetic"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["demo", "info", "inspect", "eval", "train", "generate",
                                     "create-synthetic"])
def test_every_subcommand_has_help(run_cli, command):
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout


def test_info_reports_version_threads_and_blas(run_cli):
    result = run_cli("--threads", "3", "info")
    assert result.returncode == 0, result.stderr
    assert f"version:                {structseq.__version__}" in result.stdout
    assert "threads:                3 (of" in result.stdout
    assert "OpenBLAS" in result.stdout


def test_thread_count_comes_from_the_environment(structseq_bin):
    import subprocess

    result = subprocess.run([str(structseq_bin), "info"], capture_output=True, text=True,
                            env={"STRUCTSEQ_NUM_THREADS": "5"})
    assert "threads:                5 (of" in result.stdout
    bad = subprocess.run([str(structseq_bin), "info"], capture_output=True, text=True,
                         env={"STRUCTSEQ_NUM_THREADS": "many"})
    assert bad.returncode == 1
    assert 'STRUCTSEQ_NUM_THREADS: the thread count is "many"' in bad.stderr


@pytest.mark.parametrize("args", [[], ["nonsense"], ["--threads", "0", "info"], ["inspect"],
                                  ["info", "--bogus"], ["--log-level", "loud", "info"]])
def test_usage_errors_exit_2(run_cli, args):
    result = run_cli(*args)
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    assert result.stderr.strip()


def test_inspect_lists_tensors_and_metadata(run_cli, tmp_path):
    path = tmp_path / "m.safetensors"
    structseq.save_safetensors(str(path), {"w": np.zeros((3, 4), np.float32), "b": np.zeros(4)},
                               {"format": "pt"})
    result = run_cli("inspect", path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "2 tensors" in lines[0]
    assert any(line.split()[:4] == ["w", "F32", "(3,", "4)"] and line.split()[-1] == "48" for line in lines)
    assert any(line.split() == ["b", "F64", "(4,)", "32"] for line in lines)
    assert "format: pt" in result.stdout


def test_inspect_npy(run_cli, tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((2, 5), np.float64))
    result = run_cli("inspect", path)
    assert result.returncode == 0, result.stderr
    assert "npy v1.0, float64 (2, 5), 80 bytes of data" in result.stdout


def raw(header, data=b"", length=None):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


GOOD = {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
MALFORMED = {
    "empty": b"",
    "truncated": raw(GOOD, b"\0" * 8)[:6],
    "truncated_data": raw(GOOD, b"\0" * 4),
    "header_beyond_file": raw(GOOD, b"\0" * 8, length=10_000),
    "header_length_huge": raw(GOOD, b"\0" * 8, length=2**63),
    "not_json": raw(b'{"x": ', b""),
    "unknown_dtype": raw({"x": {"dtype": "F4X", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
    "overlap": raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
    "offset_out_of_range": raw({"x": {"dtype": "F32", "shape": [2], "data_offsets": [100, 108]}}, b"\0" * 8),
    "shape_mismatch": raw({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
    "npy_garbage_header": b"\x93NUMPY\x01\x00\x05\x00{'de",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_inspect_malformed_file_exits_1_with_one_line(run_cli, tmp_path, name):
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(MALFORMED[name])
    result = run_cli("inspect", path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("structseq: error: ") and str(path) in lines[0]


def test_inspect_missing_file_exits_1(run_cli, tmp_path):
    result = run_cli("inspect", tmp_path / "nope.safetensors")
    assert result.returncode == 1
    assert "cannot open" in result.stderr


def test_demo_runs_and_reports_bit_identical_results(run_cli):
    result = run_cli("demo", "--samples", "100000", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "bit-identical: yes" in result.stdout
    assert "read back bit-exact: yes" in result.stdout
