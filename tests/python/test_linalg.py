"""The linalg area from Python, against numpy/scipy references written from the math."""

import numpy as np
import pytest
import scipy.linalg

import structseq


def tridiagonal(a, b, c):
    return np.diag(a) + np.diag(b, 1) + np.diag(c, -1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --- tridiagonal -----------------------------------------------------------------------------


def test_tridiagonal_matvec_and_solve_against_numpy_and_scipy(rng):
    n = 50
    a, b, c = rng.standard_normal(n), rng.standard_normal(n - 1), rng.standard_normal(n - 1)
    a[0] = 0.0  # needs pivoting
    x = rng.standard_normal((3, n))
    T = tridiagonal(a, b, c)
    np.testing.assert_allclose(structseq.tridiagonal_matvec(a, b, c, x), x @ T.T, atol=1e-12)
    bands = np.zeros((3, n))
    bands[0, 1:], bands[1], bands[2, :-1] = b, a, c
    expected = scipy.linalg.solve_banded((1, 1), bands, x.T).T
    out = structseq.tridiagonal_solve(a, b, c, x)
    assert out.dtype == np.float64 and out.shape == (3, n)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)
    z = 0.5 - 0.25j
    out = structseq.tridiagonal_solve(a, b, c, x[0], z=z)
    assert out.dtype == np.complex128
    np.testing.assert_allclose(out, np.linalg.solve(T - z * np.eye(n), x[0]), rtol=1e-9, atol=1e-10)


def test_tridiagonal_solve_singular_raises():
    with pytest.raises(ValueError, match="singular"):
        structseq.tridiagonal_solve(np.ones(2), np.ones(1), np.ones(1), np.ones(2))


def test_resolvent_diagonal_n2000_matches_dense_inverse_to_1e12(rng):
    n = 2000
    a, b = rng.standard_normal((2, n)), rng.standard_normal(n - 1)
    c = rng.standard_normal(n - 1)
    z = 0.2 + 1.0j
    g = structseq.tridiagonal_resolvent_diagonal(a, b, c, z)
    assert g.shape == (2, n) and g.dtype == np.complex128
    for row in range(2):
        expected = np.diag(np.linalg.inv(tridiagonal(a[row], b, c) - z * np.eye(n)))
        assert np.max(np.abs(g[row] - expected)) <= 1e-12 * np.max(np.abs(expected))
    g32 = structseq.tridiagonal_resolvent_diagonal(
        a.astype(np.float32), b.astype(np.float32), c.astype(np.float32), z
    )
    assert g32.dtype == np.complex64
    assert np.max(np.abs(g32 - g)) <= 1e-5 * np.max(np.abs(g))


def test_resolvent_diagonal_zero_pivot_names_it():
    with pytest.raises(ValueError, match="forward pivot d_0 of row 0"):
        structseq.tridiagonal_resolvent_diagonal(np.zeros(2), np.ones(1), -np.ones(1), 0.0)


def test_resolvent_entries_against_dense_inverse(rng):
    n = 120
    a, b, c = rng.standard_normal(n), rng.standard_normal(n - 1), rng.standard_normal(n - 1)
    b[30] = 0.0
    rows = rng.integers(0, n, 300)
    cols = rng.integers(0, n, 300)
    z = 1j
    G = np.linalg.inv(tridiagonal(a, b, c) - z * np.eye(n))
    out = structseq.tridiagonal_resolvent_entries(a, b, c, z, rows, cols)
    assert out.shape == (300,)
    assert np.max(np.abs(out - G[rows, cols])) <= 1e-11 * np.max(np.abs(G))


# --- SVD -------------------------------------------------------------------------------------


def low_rank_plus_noise(rng, batch, m, n, k):
    r = min(m, n)
    sigma = np.where(np.arange(r) < k, 10 * 0.8 ** np.arange(r), 0.05 * 0.98 ** np.arange(r))
    U = np.linalg.qr(rng.standard_normal((batch, m, r)))[0]
    V = np.linalg.qr(rng.standard_normal((batch, n, r)))[0]
    return (U * sigma) @ V.transpose(0, 2, 1), np.sqrt(np.sum(sigma[k:] ** 2))


def test_full_svd_matches_numpy(rng):
    M = rng.standard_normal((3, 9, 5))
    U, S, Vh = structseq.full_svd(M)
    assert U.shape == (3, 9, 5) and S.shape == (3, 5) and Vh.shape == (3, 5, 9 - 4)
    np.testing.assert_allclose(S, np.linalg.svd(M, compute_uv=False), rtol=1e-12)
    np.testing.assert_allclose((U * S[:, None, :]) @ Vh, M, atol=1e-12)


def test_randomized_svd_float32_within_one_percent_of_optimal(rng):
    M, optimal = low_rank_plus_noise(rng, 8, 512, 128, 16)
    U, S, Vh = structseq.batched_randomized_svd(M.astype(np.float32), 16, n_iter=2, oversampling=5)
    assert U.shape == (8, 512, 16) and S.shape == (8, 16) and Vh.shape == (8, 16, 128)
    assert U.dtype == np.float32
    errors = np.linalg.norm((U.astype(np.float64) * S[:, None, :]) @ Vh - M, axis=(1, 2))
    assert np.all(errors <= 1.01 * optimal)
    eye = np.eye(16)
    assert np.max(np.abs(U.transpose(0, 2, 1) @ U - eye)) < 1e-5
    assert np.max(np.abs(Vh @ Vh.transpose(0, 2, 1) - eye)) < 1e-5
    assert np.all(np.diff(S, axis=1) <= 0)


def test_randomized_svd_is_deterministic_and_validates(rng):
    M = rng.standard_normal((2, 40, 30))
    first = structseq.batched_randomized_svd(M, 4, seed=3)
    second = structseq.batched_randomized_svd(M, 4, seed=3)
    for x, y in zip(first, second):
        assert np.array_equal(x, y)
    with pytest.raises(ValueError, match="k is 0"):
        structseq.batched_randomized_svd(M, 0)
    with pytest.raises(ValueError, match="k is 31"):
        structseq.batched_randomized_svd(M, 31)
    M[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="M holds nan"):
        structseq.batched_randomized_svd(M, 4)


# --- semiseparable ---------------------------------------------------------------------------


@pytest.fixture
def semiseparable(rng):
    n, r = 64, 4
    parts = dict(
        main_diag=rng.standard_normal(n),
        super_diag=rng.standard_normal(n - 1),
        sub_diag=rng.standard_normal(n - 1),
        U=rng.standard_normal((n, r)),
        V=rng.standard_normal((n, r)),
    )
    dense = tridiagonal(parts["main_diag"], parts["super_diag"], parts["sub_diag"])
    return structseq.SemiseparableMatrix(**parts), dense + parts["U"] @ parts["V"].T, parts


def test_semiseparable_attributes_and_products(semiseparable, rng):
    H, dense, parts = semiseparable
    assert H.rank == 4 and H.n == 64
    for name, value in parts.items():
        np.testing.assert_array_equal(getattr(H, name), value)
    x = rng.standard_normal((3, 64))
    np.testing.assert_allclose(H.matvec(x), x @ dense.T, atol=1e-12)
    np.testing.assert_allclose(H.matvec(x[0]), dense @ x[0], atol=1e-12)
    np.testing.assert_allclose(H.rmatvec(x), x @ dense, atol=1e-12)
    np.testing.assert_allclose(H.matmat(x.T), dense @ x.T, atol=1e-12)
    np.testing.assert_allclose(H.to_dense(), dense, atol=1e-13)


def test_semiseparable_woodbury_solve_and_resolvent(semiseparable, rng):
    H, dense, _ = semiseparable
    rhs = rng.standard_normal((2, 64))
    z = 0.3 + 0.8j
    shifted = dense - z * np.eye(64)
    np.testing.assert_allclose(H.solve(rhs, z=z), np.linalg.solve(shifted, rhs.T).T, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(H.solve(rhs[0]), np.linalg.solve(dense, rhs[0]), rtol=1e-9, atol=1e-9)
    expected = np.diag(np.linalg.inv(shifted))
    assert np.max(np.abs(H.resolvent_diagonal(z) - expected)) <= 1e-10 * np.max(np.abs(expected))


def test_semiseparable_memory_and_verification(semiseparable):
    H, dense, _ = semiseparable
    memory = H.get_memory_usage()
    assert memory == {
        "tridiagonal_bytes": (3 * 64 - 2) * 8,
        "lowrank_bytes": 2 * 64 * 4 * 8,
        "total_bytes": (3 * 64 - 2 + 2 * 64 * 4) * 8,
        "dense_bytes": 64 * 64 * 8,
        "memory_reduction": pytest.approx(1 - (3 * 64 - 2 + 2 * 64 * 4) / 64**2),
    }
    check = H.verify_factorization(dense, tolerance=1e-12)
    assert set(check) == {"frobenius_error", "relative_error", "passes_tolerance"}
    assert check["passes_tolerance"] and check["relative_error"] < 1e-14
    assert not H.verify_factorization(dense + 1.0, tolerance=1e-2)["passes_tolerance"]


def test_matvec_backward_by_central_differences(semiseparable, rng):
    H, _, parts = semiseparable
    x, w = rng.standard_normal((2, 64)), rng.standard_normal((2, 64))

    def loss(**override):
        inputs = override.pop("x", x)
        matrix = structseq.SemiseparableMatrix(**{**parts, **override})
        return np.sum(w * matrix.matvec(inputs))

    grads = H.matvec_backward(w, x)
    assert set(grads) == {"dx", "dmain_diag", "dsuper_diag", "dsub_diag", "dU", "dV"}
    step = 1e-6
    for name, key in [("x", "dx"), ("main_diag", "dmain_diag"), ("super_diag", "dsuper_diag"),
                      ("sub_diag", "dsub_diag"), ("U", "dU"), ("V", "dV")]:
        base = x if name == "x" else parts[name]
        assert grads[key].shape == base.shape
        flat = base.reshape(-1)
        for i in rng.choice(flat.size, 6, replace=False):
            plus, minus = flat.copy(), flat.copy()
            plus[i] += step
            minus[i] -= step
            numeric = (loss(**{name: plus.reshape(base.shape)})
                       - loss(**{name: minus.reshape(base.shape)})) / (2 * step)
            # float64 central differences: ~1e-9 absolute noise on O(10) losses.
            assert grads[key].reshape(-1)[i] == pytest.approx(numeric, rel=1e-6, abs=1e-6), (key, i)


def test_checkpointing_saves_only_x(semiseparable, rng):
    H, _, _ = semiseparable
    x, dout = rng.standard_normal((4, 64)), rng.standard_normal((4, 64))
    reference = H.matvec_backward(dout, x)
    H.checkpoint_forward(x)
    plain = H.saved_bytes()
    H.checkpoint_backward(dout)
    H.enable_checkpointing()
    assert H.checkpointing
    H.checkpoint_forward(x)
    assert H.saved_bytes() == x.nbytes and plain == x.nbytes + 4 * 4 * 8
    grads = H.checkpoint_backward(dout)
    for key, value in reference.items():
        np.testing.assert_allclose(grads[key], value, atol=1e-12)
    with pytest.raises(ValueError, match="checkpoint_forward first"):
        H.checkpoint_backward(dout)


def test_create_semiseparable_recovers_structure_and_reports(semiseparable):
    _, dense, _ = semiseparable
    fit = structseq.create_semiseparable_from_dense(dense, rank=4)
    assert fit.fit_info["relative_error"] <= 1e-10
    assert fit.verify_factorization(dense, 1e-10)["passes_tolerance"]
    one_shot = structseq.create_semiseparable_from_dense(dense, rank=4, max_iter=1)
    assert one_shot.fit_info["iterations"] == 1 and one_shot.fit_info["relative_error"] > 1e-3
    assert structseq.create_semiseparable_from_dense(dense).rank == 6  # ceil(log2 64)
    adaptive = structseq.create_semiseparable_from_dense(dense, target_error=1e-8)
    assert adaptive.rank == 4
    randomized = structseq.create_semiseparable_from_dense(dense, rank=4, method="rsvd", seed=1)
    assert randomized.fit_info["relative_error"] <= 1e-10
    with pytest.raises(ValueError, match="method is 'lu'"):
        structseq.create_semiseparable_from_dense(dense, method="lu")


def test_seed_example_symmetric_gaussian_has_no_low_rank_structure(rng):
    H = rng.standard_normal((256, 256))
    H = (H + H.T) / 2
    fit = structseq.create_semiseparable_from_dense(H, max_iter=5)
    assert fit.rank == 8
    # A symmetric Gaussian matrix has a flat spectrum: rank 8 of 256 keeps ~6 % of the energy,
    # so the relative error stays above 90 % whatever the algorithm.
    assert 0.9 < fit.fit_info["relative_error"] < 0.99


# --- helpers ---------------------------------------------------------------------------------


def test_sherman_morrison_and_woodbury(rng):
    n, k = 8, 3
    M = 3 * np.eye(n) + 0.3 * rng.standard_normal((n, n))
    Minv = np.linalg.inv(M)
    u, v = rng.standard_normal(n), rng.standard_normal(n)
    np.testing.assert_allclose(
        structseq.sherman_morrison_update(Minv, u, v), np.linalg.inv(M + np.outer(u, v)), atol=1e-12
    )
    U, C, V = rng.standard_normal((n, k)), 0.2 * rng.standard_normal((k, k)), rng.standard_normal((k, n))
    np.testing.assert_allclose(
        structseq.woodbury_inverse(Minv, U, C, V), np.linalg.inv(M + U @ C @ V), atol=1e-12
    )


def test_ridge_shrinkage_and_lambda_range(rng):
    X = rng.standard_normal((5, 12))
    W = structseq.ridge_shrinkage(X, 2.0)
    np.testing.assert_allclose(W, X @ X.T @ np.linalg.inv(X @ X.T + 2.0 * np.eye(5)), atol=1e-12)
    sigmas = [10, 8, 4, 1, 0.5, 0.36, 0.16, 0.01]
    assert structseq.ridge_shrinkage_lambda_range(sigmas, 3) == (1.0, 4.0)
    assert structseq.ridge_shrinkage_lambda_range(np.array(sigmas[::-1]), keep=3) == (1.0, 4.0)
    assert structseq.ridge_shrinkage_lambda_range(sigmas, 5) is None
