"""torch.save files through the restricted unpickler: values, dtypes and views of a file the real
writer produced, a Mamba checkpoint shipped as pytorch_model.bin, and hostile pickles that must
be refused without running anything."""

import json
import pathlib
import pickle
import shutil
import zipfile

import numpy as np
import pytest

import structseq
import test_mamba_model as mamba

DATA = pathlib.Path(__file__).resolve().parent / "data"


def test_values_dtypes_and_views_of_a_torch_save_file():
    d = structseq.load_torch_checkpoint(str(DATA / "torch_save_views.bin"))
    assert list(d) == ["f32", "f16", "bf16_t", "slice", "f64", "i64", "param", "empty"]
    np.testing.assert_array_equal(d["f32"], np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(d["f16"], np.array([0.5, -2, 65504], np.float32))
    np.testing.assert_array_equal(d["bf16_t"], np.array([[0, 2], [1, 3]], np.float32))
    np.testing.assert_array_equal(d["slice"], np.array([3, 5, 7], np.float32))
    assert d["f64"].dtype == np.float64 and d["f64"].tolist() == [1.5, -3.25]
    assert d["i64"].dtype == np.int64 and d["i64"].tolist() == [-2, -1, 0, 1, 2]
    np.testing.assert_array_equal(d["param"], np.array([7, 7], np.float32))
    assert d["empty"].shape == (0, 3)


def test_mamba_pytorch_model_bin_matches_reference(tmp_path):
    shutil.copy(DATA / "mamba_tiny_pytorch_model.bin", tmp_path / "pytorch_model.bin")
    mamba.write_hf(tmp_path, {})
    (tmp_path / "model.safetensors").unlink()
    w = mamba.random_weights(np.random.default_rng(11), mamba.VOCAB + 3)
    tokens = np.random.default_rng(12).integers(0, mamba.VOCAB, (2, 9))
    lm = structseq.load_model(str(tmp_path))
    assert mamba.relative_error(lm.logits(tokens), mamba.reference_logits(w, tokens)) < 1e-4


def write_archive(path, pickle_bytes, members=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        for name, data in (members or {}).items():
            z.writestr("archive/" + name, data)


class RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.marker}",))


class Evaluates:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("protocol", [2, 4])
def test_hostile_pickles_are_refused_and_never_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    cases = {
        "shell": ({"w": RunsShell(marker)}, r"global (posix|os)\.system"),
        "eval": ({"w": Evaluates()}, r"global (__builtin__|builtins)\.eval"),
    }
    for name, (payload, message) in cases.items():
        path = tmp_path / f"{name}.bin"
        write_archive(path, pickle.dumps(payload, protocol=protocol))
        with pytest.raises(ValueError, match=message + ".*may be malicious"):
            structseq.load_torch_checkpoint(str(path))
    assert not marker.exists()


def test_malformed_archives_and_pickles_are_errors(tmp_path):
    cases = {
        # An allowed global called with the wrong arguments.
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00)R.": "_rebuild_tensor_v2 arguments",
        # A storage class used as a callable.
        b"\x80\x02ctorch\nFloatStorage\n)R.": "a call to torch FloatStorage",
        # BUILD (object state) is not something a dict of tensors needs.
        b"\x80\x02}b.": "opcode 0x62",
        b"\x80\x02}(X\x01\x00\x00\x00a": "ends early",
        b"\x80\x02h\x05.": "memo entry 5",
        b"\x80\x02s.": "stack underflow",
        b"\x80\x02K\x01.": "not a dict of tensors",
    }
    for k, (data, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{k}.bin"
        write_archive(path, data)
        with pytest.raises(ValueError, match=message):
            structseq.load_torch_checkpoint(str(path))
    # A storage reference past the end of its data member.
    tensor = (b"\x80\x02}X\x01\x00\x00\x00actorch._utils\n_rebuild_tensor_v2\n(("
              b"X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
              b"K\x04tQK\x00K\x08\x85K\x01\x85\x89}tRs.")
    write_archive(tmp_path / "short.bin", tensor, {"data/0": b"\x00" * 16})
    with pytest.raises(ValueError, match="reaching element 7 of a storage of 4"):
        structseq.load_torch_checkpoint(str(tmp_path / "short.bin"))
    (tmp_path / "notzip.bin").write_bytes(b"hello" * 20)
    with pytest.raises(ValueError, match="not a zip archive"):
        structseq.load_torch_checkpoint(str(tmp_path / "notzip.bin"))
    with zipfile.ZipFile(tmp_path / "nopkl.bin", "w") as z:
        z.writestr("archive/version", "3")
    with pytest.raises(ValueError, match="no <name>/data.pkl"):
        structseq.load_torch_checkpoint(str(tmp_path / "nopkl.bin"))
