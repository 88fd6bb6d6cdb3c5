"""Selective scan against a plain-loop reference written from the equations of Mamba's
selective_scan_ref, and its backward against central finite differences (float64)."""

import numpy as np
import pytest

import structseq as ss


def softplus(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def reference(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
              discretization="zoh"):
    batch, dim, L = u.shape
    N = A.shape[1]
    dt = delta + (0 if delta_bias is None else delta_bias[None, :, None])
    if delta_softplus:
        dt = softplus(dt)

    def select(X, b, d, t):
        if X.ndim == 2:
            return X[d]
        if X.ndim == 3:
            return X[b, :, t]
        G = X.shape[1]
        return X[b, d // (dim // G), :, t]

    out = np.zeros((batch, dim, L))
    last = np.zeros((batch, dim, N))
    for b in range(batch):
        for d in range(dim):
            x = np.zeros(N)
            for t in range(L):
                if discretization == "zoh":
                    a_bar = np.exp(dt[b, d, t] * A[d])
                    bu = dt[b, d, t] * select(B, b, d, t) * u[b, d, t]
                else:
                    den = 1 - dt[b, d, t] * A[d] / 2
                    a_bar = (1 + dt[b, d, t] * A[d] / 2) / den
                    bu = dt[b, d, t] * select(B, b, d, t) * u[b, d, t] / den
                x = a_bar * x + bu
                y = select(C, b, d, t) @ x
                if D is not None:
                    y += D[d] * u[b, d, t]
                if z is not None:
                    y *= z[b, d, t] / (1 + np.exp(-z[b, d, t]))
                out[b, d, t] = y
            last[b, d] = x
    return out, last


def make(seed, batch=2, dim=4, L=9, N=3, b_kind="fixed", c_kind="fixed", groups=2):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((batch, dim, L))
    delta = rng.uniform(-1.0, 0.5, (batch, dim, L))
    A = -rng.uniform(0.5, 2.0, (dim, N))

    def selector(kind):
        if kind == "fixed":
            return rng.standard_normal((dim, N))
        if kind == "variable":
            return rng.standard_normal((batch, N, L))
        return rng.standard_normal((batch, groups, N, L))

    return dict(u=u, delta=delta, A=A, B=selector(b_kind), C=selector(c_kind),
                D=rng.standard_normal(dim), z=rng.standard_normal((batch, dim, L)),
                delta_bias=rng.uniform(-0.5, 0.5, dim))


KINDS = [("fixed", "fixed"), ("variable", "variable"), ("grouped", "grouped"),
         ("fixed", "variable"), ("grouped", "fixed")]


@pytest.mark.parametrize("b_kind,c_kind", KINDS)
@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("optional", [True, False])
def test_forward_matches_reference(b_kind, c_kind, discretization, optional):
    x = make(1, b_kind=b_kind, c_kind=c_kind)
    if not optional:
        x.update(D=None, z=None, delta_bias=None)
    out, last = ss.selective_scan(x["u"], x["delta"], x["A"], x["B"], x["C"], x["D"], x["z"],
                                  x["delta_bias"], delta_softplus=optional,
                                  return_last_state=True, discretization=discretization)
    ref_out, ref_last = reference(**x, delta_softplus=optional, discretization=discretization)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(last, ref_last, rtol=1e-12, atol=1e-12)


def test_forward_float32_and_long_sequence():
    x = make(2, batch=1, dim=3, L=300, N=16, b_kind="variable", c_kind="variable")
    out = ss.selective_scan(*(x[k].astype(np.float32) for k in ["u", "delta", "A", "B", "C"]),
                            D=x["D"].astype(np.float32), delta_softplus=True)
    assert out.dtype == np.float32 and out.shape == (1, 3, 300)
    ref, _ = reference(x["u"], x["delta"], x["A"], x["B"], x["C"], x["D"], delta_softplus=True)
    assert np.linalg.norm(out - ref) / np.linalg.norm(ref) < 1e-6


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("c_kind", ["variable", "one_group"])
def test_float32_runs_in_float32_and_agrees_with_float64(discretization, c_kind):
    # float32 with input-dependent B and C takes the float32 time-major kernel: forward and
    # every gradient within float32 rounding of the float64 path.
    x = make(6, batch=2, dim=21, L=150, N=16, b_kind="variable", c_kind="variable")
    if c_kind == "one_group":
        x["C"] = x["C"][:, None]
    dout = np.random.default_rng(7).standard_normal(x["u"].shape)
    x32 = {k: v.astype(np.float32) for k, v in x.items()}
    out = ss.selective_scan(**x32, delta_softplus=True, discretization=discretization)
    ref = ss.selective_scan(**x, delta_softplus=True, discretization=discretization)
    assert out.dtype == np.float32
    assert np.linalg.norm(out - ref) / np.linalg.norm(ref) < 2e-6
    g32 = ss.selective_scan_backward(dout.astype(np.float32), **x32, delta_softplus=True,
                                     discretization=discretization)
    g64 = ss.selective_scan_backward(dout, **x, delta_softplus=True,
                                     discretization=discretization)
    assert sorted(g32) == sorted(g64)
    for key in g64:
        assert g32[key].dtype == np.float32 and g32[key].shape == g64[key].shape, key
        assert np.linalg.norm(g32[key] - g64[key]) / np.linalg.norm(g64[key]) < 2e-5, key


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
def test_backward_from_forward_checkpoints_gives_the_same_bits(discretization):
    # The float32 kernel's checkpoints (states every 64 steps) let the backward skip its own
    # forward pass; it must give exactly what the recomputing backward gives. L = 150 ends in a
    # partial chunk.
    x = make(8, batch=2, dim=21, L=150, N=16, b_kind="variable", c_kind="variable")
    x32 = {k: v.astype(np.float32) for k, v in x.items()}
    dout = np.random.default_rng(9).standard_normal(x["u"].shape).astype(np.float32)
    out, checkpoints = ss.selective_scan(**x32, delta_softplus=True,
                                         discretization=discretization, return_checkpoints=True)
    np.testing.assert_array_equal(
        out, ss.selective_scan(**x32, delta_softplus=True, discretization=discretization))
    assert checkpoints.shape == (2, 3, 16, 21) and checkpoints.dtype == np.float32
    # The state before step 0 is zero; before step 64, the reference's state after 64 steps.
    assert not checkpoints[:, 0].any()
    head = {k: (v[..., :64] if v.ndim == 3 and v.shape[-1] == 150 else v) for k, v in x.items()}
    _, state_64 = reference(**head, delta_softplus=True, discretization=discretization)
    np.testing.assert_allclose(checkpoints[:, 1], state_64.transpose(0, 2, 1), rtol=1e-4,
                               atol=1e-5)
    recomputed = ss.selective_scan_backward(dout, **x32, delta_softplus=True,
                                            discretization=discretization)
    saved = ss.selective_scan_backward(dout, **x32, delta_softplus=True,
                                       discretization=discretization, checkpoints=checkpoints)
    assert sorted(saved) == sorted(recomputed)
    for key in recomputed:
        np.testing.assert_array_equal(saved[key], recomputed[key], err_msg=key)


def test_checkpoints_only_where_the_float32_kernel_runs():
    x = make(10, batch=1, dim=3, L=70, N=4, b_kind="variable", c_kind="variable")
    out, checkpoints = ss.selective_scan(**x, return_checkpoints=True)  # float64: none kept
    assert checkpoints is None
    out, last, checkpoints = ss.selective_scan(
        **{k: v.astype(np.float32) for k, v in x.items()}, return_last_state=True,
        return_checkpoints=True)
    assert last.shape == (1, 3, 4) and checkpoints is None  # a last state takes float64 too
    x32 = {k: v.astype(np.float32) for k, v in x.items()}
    _, checkpoints = ss.selective_scan(**x32, return_checkpoints=True)
    dout = np.ones_like(x["u"])
    with pytest.raises(ValueError, match="checkpoints.*float64"):
        ss.selective_scan_backward(dout, **x, checkpoints=checkpoints)
    with pytest.raises(ValueError, match="checkpoints"):
        ss.selective_scan_backward(dout.astype(np.float32), **x32,
                                   checkpoints=checkpoints[:, :1])


@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
def test_parallel_scan_matches_reference(discretization):
    # L = 1100: four time chunks of ≥ 256 steps, run from their entering states.
    x = make(5, batch=1, dim=2, L=1100, N=5, b_kind="variable", c_kind="grouped", groups=2)
    x["delta"] = x["delta"] - 2.0  # small steps: the state carries across chunk boundaries
    args = [x[k] for k in ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]]
    out, last = ss.selective_scan(*args, delta_softplus=True, return_last_state=True,
                                  discretization=discretization, use_parallel_scan=True)
    ref_out, ref_last = reference(**x, delta_softplus=True, discretization=discretization)
    np.testing.assert_allclose(out, ref_out, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(last, ref_last, rtol=1e-11, atol=1e-12)
    seq = ss.selective_scan(*args, delta_softplus=True, discretization=discretization)
    np.testing.assert_allclose(out, seq, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("b_kind,c_kind", KINDS)
@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
@pytest.mark.parametrize("N", [3, 11])
def test_backward_finite_differences(b_kind, c_kind, discretization, N):
    # L = 70 crosses the 64-step checkpoint of the backward's recomputation; N = 11 runs eight
    # state lanes per vector and three one by one.
    x = make(3, batch=2, dim=4, L=70, N=N, b_kind=b_kind, c_kind=c_kind)
    dout = np.random.default_rng(4).standard_normal(x["u"].shape)
    grads = ss.selective_scan_backward(dout, **x, delta_softplus=True,
                                       discretization=discretization)
    assert set(grads) == {"du", "ddelta", "dA", "dB", "dC", "dD", "dz", "ddelta_bias"}

    def loss(**kw):
        out = ss.selective_scan(**kw, delta_softplus=True, discretization=discretization)
        return float(np.sum(dout * out))

    eps = 1e-6
    rng = np.random.default_rng(5)
    for name in ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]:
        grad = grads["d" + name]
        assert grad.shape == x[name].shape
        # 12 random entries of each input (every entry of the small ones).
        flat = [np.unravel_index(i, x[name].shape)
                for i in rng.choice(x[name].size, min(12, x[name].size), replace=False)]
        for idx in flat:
            plus = {k: v.copy() for k, v in x.items()}
            minus = {k: v.copy() for k, v in x.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            fd = (loss(**plus) - loss(**minus)) / (2 * eps)
            assert grad[idx] == pytest.approx(fd, rel=1e-6, abs=1e-7), (name, idx)


def test_backward_without_optional_inputs_has_no_keys():
    x = make(6)
    grads = ss.selective_scan_backward(np.ones_like(x["u"]), x["u"], x["delta"], x["A"], x["B"],
                                       x["C"])
    assert set(grads) == {"du", "ddelta", "dA", "dB", "dC"}


def test_errors():
    x = make(7)
    with pytest.raises(ValueError, match="B"):
        ss.selective_scan(x["u"], x["delta"], x["A"], np.ones((4, 5)), x["C"])
    with pytest.raises(ValueError, match="delta"):
        ss.selective_scan(x["u"], x["delta"][:, :, :3], x["A"], x["B"], x["C"])
    with pytest.raises(ValueError, match="discretization"):
        ss.selective_scan(x["u"], x["delta"], x["A"], x["B"], x["C"], discretization="euler")
    with pytest.raises(ValueError, match="G"):
        ss.selective_scan(x["u"], x["delta"], x["A"], np.ones((2, 3, 3, 9)), x["C"])
    with pytest.raises(ValueError, match="finite"):
        bad = x["u"].copy()
        bad[0, 0, 0] = np.nan
        ss.selective_scan(bad, x["delta"], x["A"], x["B"], x["C"])
