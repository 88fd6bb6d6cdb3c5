"""The Python module: import, threads, errors, numpy views without copies."""

import numpy as np
import pytest

import structseq
from structseq import _core


def test_version_and_build_info():
    assert structseq.__version__.count(".") == 2
    info = structseq.build_info()
    assert info["version"] == structseq.__version__
    assert "OpenMP threading" in info["BLAS"]


def test_threads_round_trip():
    saved = structseq.get_num_threads()
    try:
        structseq.set_num_threads(3)
        assert structseq.get_num_threads() == 3
    finally:
        structseq.set_num_threads(saved)


def test_core_errors_become_value_errors_with_the_message():
    with pytest.raises(ValueError, match=r"set_num_threads: n is 0, expected an integer in \[1, 4096\]"):
        structseq.set_num_threads(0)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128", "int8", "int64"])
def test_contiguous_arrays_pass_without_copy(dtype):
    a = np.arange(24).reshape(2, 3, 4).astype(dtype)
    b = _core._view_roundtrip(a)
    assert np.shares_memory(a, b)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_strided_arrays_are_copied_once_into_c_order():
    a = np.arange(12.0).reshape(3, 4).T
    b = _core._view_roundtrip(a)
    assert not np.shares_memory(a, b)
    assert b.flags.c_contiguous
    np.testing.assert_array_equal(a, b)


def test_returned_arrays_own_their_memory_after_the_input_dies():
    b = _core._view_roundtrip(np.full(1000, 7.0))
    import gc

    gc.collect()
    assert b.sum() == 7000.0


def test_unsupported_dtype_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="array of dtype bool"):
        _core._view_roundtrip(np.zeros(3, dtype=bool))
