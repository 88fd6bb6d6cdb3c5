"""BirmanSchwingerCore from Python against a dense numpy resolvent and finite differences."""

import numpy as np
import pytest

import structseq


def dense_features(v, z, mode, h0=None):
    n = v.shape[-1]
    if h0 is None:
        H0 = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
    else:
        H0 = np.diag(h0[0]) + np.diag(h0[1], 1) + np.diag(h0[2], -1)
    out = np.empty(v.shape + (2,))
    for index in np.ndindex(v.shape[:-1]):
        A = H0 + np.diag(v[index]) - z * np.eye(n)
        if mode == "bidirectional":
            g = np.diag(np.linalg.inv(A))
        else:
            g = np.array([np.linalg.inv(A[: i + 1, : i + 1])[i, i] for i in range(n)])
        out[index] = np.stack([g.real, g.imag], axis=-1)
    return out


@pytest.mark.parametrize("mode", ["bidirectional", "causal"])
def test_forward_matches_dense_and_call_form(mode):
    rng = np.random.default_rng(0)
    v = rng.standard_normal((2, 3, 16))
    core = structseq.BirmanSchwingerCore(16, z=0.2 + 0.9j, mode=mode)
    features, diagnostics = core.forward(v)
    assert features.shape == (2, 3, 16, 2) and features.dtype == np.float64
    np.testing.assert_allclose(features, dense_features(v, 0.2 + 0.9j, mode), atol=1e-13)
    assert {"memory_bytes", "memory_savings", "min_abs_pivot"} <= set(diagnostics)
    called, _ = core(v, z=1.0j)  # seed 001's spelling; z overrides the layer's for this call
    np.testing.assert_allclose(called, dense_features(v, 1.0j, mode), atol=1e-13)
    assert core.z == 0.2 + 0.9j


@pytest.mark.parametrize("mode", ["bidirectional", "causal"])
def test_backward_by_central_differences(mode):
    rng = np.random.default_rng(1)
    v, w = rng.standard_normal((2, 10)), rng.standard_normal((2, 10, 2))
    z = 0.4 + 0.7j
    core = structseq.BirmanSchwingerCore(10, z=z, mode=mode, learnable_z=True)
    core.forward(v)
    grad_v = core.backward(w)
    assert grad_v.shape == v.shape

    def loss(x, shift=z):
        features, _ = structseq.BirmanSchwingerCore(10, z=shift, mode=mode).forward(x)
        return np.sum(features * w)

    h = 1e-6
    numeric = np.zeros_like(v)
    for index in np.ndindex(v.shape):
        plus, minus = v.copy(), v.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (loss(plus) - loss(minus)) / (2 * h)
    np.testing.assert_allclose(grad_v, numeric, atol=1e-7)
    numeric_z = complex((loss(v, z + h) - loss(v, z - h)) / (2 * h),
                        (loss(v, z + 1j * h) - loss(v, z - 1j * h)) / (2 * h))
    assert abs(core.grads["z"] - numeric_z) < 1e-7
    core.zero_grad()
    assert core.grads["z"] == 0


def test_explicit_h0_checkpointing_and_float32():
    rng = np.random.default_rng(2)
    n = 20
    h0 = (rng.standard_normal(n), rng.standard_normal(n - 1), rng.standard_normal(n - 1))
    v = rng.standard_normal((3, n)).astype(np.float32)
    core = structseq.BirmanSchwingerCore(n, z=0.5j, h0=h0, enable_gradient_checkpointing=True,
                                         dtype="complex64")
    features, diagnostics = core.forward(v)
    assert features.dtype == np.float32
    assert diagnostics["memory_bytes"] == core.saved_bytes() == 3 * n * 4  # v only
    np.testing.assert_allclose(features, dense_features(v.astype(np.float64), 0.5j, "bidirectional", h0),
                               rtol=1e-3, atol=1e-4)
    assert core.backward(np.ones((3, n, 2))).dtype == np.float32


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="Im z != 0"):
        structseq.BirmanSchwingerCore(8, z=1.0)
    with pytest.raises(ValueError, match="mode is 'both'"):
        structseq.BirmanSchwingerCore(8, mode="both")
    core = structseq.BirmanSchwingerCore(8)
    with pytest.raises(ValueError, match=r"v is shape \(2, 9\)"):
        core.forward(np.zeros((2, 9)))
    with pytest.raises(ValueError, match="backward without a forward"):
        core.backward(np.zeros((2, 8, 2)))


def test_semiseparable_mode_gradients_for_u_and_v():
    rng = np.random.default_rng(3)
    n, z = 9, 0.1 + 0.6j
    core = structseq.BirmanSchwingerCore(n, z=z, use_semiseparable=True, semiseparable_rank=2,
                                         learnable_z=True, seed=5)
    U, V = core.U.copy(), core.V.copy()
    assert U.shape == V.shape == (n, 2)
    v, w = rng.standard_normal((2, n)), rng.standard_normal((2, n, 2))
    H0 = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)

    def loss(vv=v, UU=U, VV=V):
        total = 0.0
        for b in range(2):
            g = np.diag(np.linalg.inv(H0 + np.diag(vv[b]) + UU @ VV.T - z * np.eye(n)))
            total += np.sum(np.stack([g.real, g.imag], -1) * w[b])
        return total

    features, _ = core.forward(v)
    g = np.diag(np.linalg.inv(H0 + np.diag(v[0]) + U @ V.T - z * np.eye(n)))
    np.testing.assert_allclose(features[0], np.stack([g.real, g.imag], -1), atol=1e-13)
    grad_v = core.backward(w)
    h = 1e-6
    for name, base, analytic in [("vv", v, grad_v), ("UU", U, core.grads["U"]), ("VV", V, core.grads["V"])]:
        for index in list(np.ndindex(base.shape))[::3]:
            plus, minus = base.copy(), base.copy()
            plus[index] += h
            minus[index] -= h
            numeric = (loss(**{name: plus}) - loss(**{name: minus})) / (2 * h)
            assert analytic[index] == pytest.approx(numeric, abs=1e-7), (name, index)
    with pytest.raises(ValueError, match="global low-rank"):
        structseq.BirmanSchwingerCore(n, mode="causal", use_semiseparable=True)


@pytest.mark.parametrize("checkpointing", [False, True])
@pytest.mark.parametrize("semiseparable", [False, True])
def test_memory_model_matches_measured_peak(checkpointing, semiseparable):
    core = structseq.BirmanSchwingerCore(512, enable_gradient_checkpointing=checkpointing,
                                         use_semiseparable=semiseparable)
    v, grad = np.random.default_rng(4).standard_normal((6, 512)), np.ones((6, 512, 2))
    base = structseq.tensor_bytes_live()
    structseq.reset_tensor_bytes_peak()
    features, diagnostics = core.forward(v)
    assert diagnostics["memory_bytes"] == core.estimate_memory_usage(6)["activations"]
    core.backward(grad)
    measured = structseq.tensor_bytes_peak() - base
    del features
    estimate = core.estimate_memory_usage(6)
    assert abs(measured - estimate["step_peak"]) <= 0.1 * estimate["step_peak"]
    assert estimate["total"] == estimate["parameters"] + estimate["optimizer"] + estimate["step_peak"]
    history = core.get_memory_profile()["history"]
    assert history[-1]["sequences"] == 6


def test_optimal_batch_size_is_the_largest_that_fits():
    core = structseq.BirmanSchwingerCore(1024, use_semiseparable=True)
    available = 64 * 2**20
    best = core.compute_optimal_batch_size(available, use_checkpointing=True)
    assert core.estimate_memory_usage(best, True)["total"] <= 0.8 * available
    assert core.estimate_memory_usage(best + 1, True)["total"] > 0.8 * available
    with pytest.raises(ValueError, match="even one sequence"):
        core.compute_optimal_batch_size(1000)


def test_bk_block_gradient_and_causality():
    rng = np.random.default_rng(6)
    block = structseq.BkBlock(d_model=4, channels=2, n_seq=5)
    x, w = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 4))
    y = block.forward(x)
    assert y.shape == x.shape
    dx = block.backward(w)
    assert set(block.grads) == {"in_proj.weight", "in_proj.bias", "out_proj.weight", "out_proj.bias"}
    h = 1e-6
    for index in [(0, 0, 0), (1, 4, 3), (0, 2, 1)]:
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        numeric = (np.sum(block.forward(plus) * w) - np.sum(block.forward(minus) * w)) / (2 * h)
        assert dx[index] == pytest.approx(numeric, abs=1e-7)
    later = x.copy()
    later[:, 3:] += 1.0
    np.testing.assert_array_equal(block.forward(later)[:, :3], block.forward(x)[:, :3])
