"""safetensors and .npy against the reference implementations (safetensors, numpy)."""

import json
import os
import struct

import numpy as np
import pytest
import safetensors.numpy

import structseq


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    return {
        "embedding.weight": rng.standard_normal((17, 8)).astype(np.float32),
        "layers.0.A_log": rng.standard_normal((8, 4)),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalar": np.array(2.5, dtype=np.float64),
    }


def test_our_files_read_in_the_reference_library(tmp_path, arrays):
    path = tmp_path / "ours.safetensors"
    structseq.save_safetensors(str(path), arrays, {"format": "pt"})
    loaded = safetensors.numpy.load_file(str(path))
    assert loaded.keys() == arrays.keys()
    for name, value in arrays.items():
        assert loaded[name].dtype == value.dtype
        np.testing.assert_array_equal(loaded[name], value)
    with safetensors.safe_open(str(path), "np") as f:
        assert f.metadata() == {"format": "pt"}


def test_reference_files_read_in_ours(tmp_path, arrays):
    path = tmp_path / "theirs.safetensors"
    extra = {
        "half": np.array([1.0, -2.5, 65504.0, 6e-8], dtype=np.float16),
        "ids": np.arange(4, dtype=np.int64),
    }
    safetensors.numpy.save_file({**arrays, **extra}, str(path), metadata={"k": "v"})
    assert structseq.safetensors_metadata(str(path)) == {"k": "v"}
    with pytest.raises(ValueError, match="tensor 'ids' has dtype I64"):
        structseq.load_safetensors(str(path))
    safetensors.numpy.save_file({**arrays, "half": extra["half"]}, str(path))
    loaded = structseq.load_safetensors(str(path))
    for name, value in arrays.items():
        np.testing.assert_array_equal(loaded[name], value)
    assert loaded["half"].dtype == np.float32
    np.testing.assert_array_equal(loaded["half"], extra["half"].astype(np.float32))
    as64 = structseq.load_safetensors(str(path), dtype="float64")
    assert all(v.dtype == np.float64 for v in as64.values())


def test_save_refuses_integer_arrays_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(ValueError, match=r"tensors\['ids'\] is an array of dtype int64, expected float32 or float64"):
        structseq.save_safetensors(str(path), {"ids": np.arange(3)})
    assert not path.exists()


@pytest.mark.parametrize(
    "dtype", [np.float32, np.float64, np.complex64, np.complex128, np.int8, np.uint8, np.int32, np.int64]
)
def test_npy_round_trips_with_numpy(tmp_path, dtype):
    a = (np.arange(30).reshape(5, 6) - 7).astype(dtype)
    ours = tmp_path / "ours.npy"
    structseq.save_npy(str(ours), a[:, ::2])  # strided input
    np.testing.assert_array_equal(np.load(ours), a[:, ::2])
    theirs = tmp_path / "theirs.npy"
    np.save(theirs, a)
    back = structseq.load_npy(str(theirs))
    assert back.dtype == a.dtype
    np.testing.assert_array_equal(back, a)


def test_npy_fortran_order_is_refused(tmp_path):
    path = tmp_path / "f.npy"
    np.save(path, np.asfortranarray(np.ones((3, 4))))
    with pytest.raises(ValueError, match="Fortran order"):
        structseq.load_npy(str(path))


def write_raw(path, header, data=b""):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def test_malformed_safetensors_raise_value_error(tmp_path):
    path = tmp_path / "bad.safetensors"
    write_raw(path, {"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8)
    with pytest.raises(ValueError, match="out of range"):
        structseq.load_safetensors(str(path))
