"""The attention area from Python against numpy written from the definitions: softmax attention,
ridge attention (both causal forms, backward, weights) and the spectral KV cache."""

import numpy as np
import pytest

import structseq


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def ridge_reference(q, k, v, lam, causal):
    """out_t = q_tᵀ (K_tᵀK_t + λI)⁻¹ K_tᵀ V_t by one solve per prefix (float64)."""
    batch, heads, n_q, d = q.shape
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), (heads,))
    out = np.zeros(q.shape[:3] + (v.shape[-1],))
    for b in range(batch):
        for h in range(heads):
            for t in range(n_q):
                K = k[b, h, : t + 1] if causal else k[b, h]
                V = v[b, h, : t + 1] if causal else v[b, h]
                X = np.linalg.solve(K.T @ K + lam[h] * np.eye(d), K.T @ V)
                out[b, h, t] = q[b, h, t] @ X
    return out


def softmax_reference(q, k, v, causal):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if causal:
        n_q, n = s.shape[-2:]
        s = np.where(np.arange(n)[None, :] <= np.arange(n_q)[:, None] + n - n_q, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


# --- ridge attention -------------------------------------------------------------------------


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("lam", [0.7, np.array([0.5, 2.0, 1.3])])
def test_ridge_attention_matches_per_prefix_solve(rng, causal, lam):
    q, k = rng.standard_normal((2, 2, 3, 40, 6))
    v = rng.standard_normal((2, 3, 40, 4))
    out = structseq.ridge_attention(q, k, v, lam, causal=causal)
    assert out.shape == (2, 3, 40, 4) and out.dtype == np.float64
    np.testing.assert_allclose(out, ridge_reference(q, k, v, lam, causal), rtol=1e-10, atol=1e-12)


def test_ridge_attention_forms_and_chunk_sizes_agree(rng):
    q, k, v = rng.standard_normal((3, 1, 2, 100, 8))
    reference = ridge_reference(q, k, v, 1.0, True)
    for chunk in (1, 7, 64, 256):
        out = structseq.ridge_attention(q, k, v, 1.0, chunk_size=chunk)
        np.testing.assert_allclose(out, reference, rtol=1e-10, atol=1e-12)
    out = structseq.ridge_attention(q, k, v, 1.0, method="sherman_morrison")
    np.testing.assert_allclose(out, reference, rtol=1e-10, atol=1e-12)


def test_ridge_attention_float32_and_other_value_width(rng):
    q, k = rng.standard_normal((2, 1, 4, 300, 16)).astype(np.float32)
    v = rng.standard_normal((1, 4, 300, 24)).astype(np.float32)
    out = structseq.ridge_attention(q, k, v, 1.0)
    assert out.dtype == np.float32 and out.shape == (1, 4, 300, 24)
    expected = ridge_reference(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64),
                               1.0, True)
    assert np.linalg.norm(out - expected) / np.linalg.norm(expected) < 1e-5


@pytest.mark.parametrize("causal", [True, False])
def test_ridge_attention_backward_against_finite_differences(rng, causal):
    q, k = rng.standard_normal((2, 1, 2, 9, 3))
    v, dout = rng.standard_normal((2, 1, 2, 9, 2))
    lam = np.array([0.6, 1.8])

    def loss(q, k, v, lam):
        return float(np.sum(structseq.ridge_attention(q, k, v, lam, causal=causal) * dout))

    g = structseq.ridge_attention_backward(dout, q, k, v, lam, causal=causal)
    assert set(g) == {"dq", "dk", "dv", "dlam"}
    eps = 1e-6
    for name, x in (("dq", q), ("dk", k), ("dv", v)):
        direction = rng.standard_normal(x.shape)
        args = {"q": q, "k": k, "v": v}
        key = name[1:]
        up = dict(args, **{key: x + eps * direction})
        down = dict(args, **{key: x - eps * direction})
        fd = (loss(**up, lam=lam) - loss(**down, lam=lam)) / (2 * eps)
        assert g[name].shape == x.shape
        assert abs(np.sum(g[name] * direction) - fd) < 1e-6 * abs(fd) + 1e-8, name
    assert g["dlam"].shape == (2,)
    for h in range(2):
        step = np.zeros(2)
        step[h] = eps
        fd = (loss(q, k, v, lam + step) - loss(q, k, v, lam - step)) / (2 * eps)
        assert abs(g["dlam"][h] - fd) < 1e-6 * abs(fd) + 1e-8
    # a scalar λ gives a scalar dλ: the sum over heads
    g1 = structseq.ridge_attention_backward(dout, q, k, v, 0.9, causal=causal)
    assert isinstance(g1["dlam"], float)
    fd = (loss(q, k, v, 0.9 + eps) - loss(q, k, v, 0.9 - eps)) / (2 * eps)
    assert abs(g1["dlam"] - fd) < 1e-6 * abs(fd) + 1e-8


@pytest.mark.parametrize("causal", [True, False])
def test_ridge_attention_weights_reproduce_the_output(rng, causal):
    q, k, v = rng.standard_normal((3, 2, 2, 30, 5))
    alpha = structseq.ridge_attention_weights(q, k, 1.5, causal=causal)
    assert alpha.shape == (2, 2, 30, 30)
    if causal:
        assert np.all(np.triu(alpha, 1) == 0)
    np.testing.assert_allclose(alpha @ v, ridge_reference(q, k, v, 1.5, causal), rtol=1e-10,
                               atol=1e-12)
    # non-causal: α = Q (KᵀK + λI)⁻¹ Kᵀ, also for other query counts
    a = structseq.ridge_attention_weights(q[:, :, :4], k, 1.5)
    M = np.swapaxes(k, -1, -2) @ k + 1.5 * np.eye(5)
    np.testing.assert_allclose(a, q[:, :, :4] @ np.linalg.solve(M, np.swapaxes(k, -1, -2)),
                               rtol=1e-10, atol=1e-12)


def test_ridge_attention_errors_name_the_argument(rng):
    q = rng.standard_normal((1, 2, 5, 4))
    with pytest.raises(ValueError, match="lam is -1"):
        structseq.ridge_attention(q, q, q, -1.0)
    with pytest.raises(ValueError, match="one per head"):
        structseq.ridge_attention(q, q, q, np.ones(3))
    with pytest.raises(ValueError, match="method is qr"):
        structseq.ridge_attention(q, q, q, 1.0, method="qr")
    with pytest.raises(ValueError, match="as many as keys"):
        structseq.ridge_attention(q[:, :, :3], q, q, 1.0)


# --- softmax attention -----------------------------------------------------------------------


@pytest.mark.parametrize("causal", [True, False])
def test_softmax_attention_matches_numpy(rng, causal):
    q = rng.standard_normal((2, 3, 70, 8))
    k, v = rng.standard_normal((2, 2, 3, 90, 8))
    out = structseq.softmax_attention(q, k, v, causal=causal)
    np.testing.assert_allclose(out, softmax_reference(q, k, v, causal), rtol=1e-12, atol=1e-12)


# --- spectral KV cache -----------------------------------------------------------------------


def test_spectral_cache_is_exact_before_a_block_fills(rng):
    cache = structseq.SpectralKVCache(2, 16, block_size=64, k_rank_keys=4, k_rank_values=4)
    k, v = rng.standard_normal((2, 2, 40, 16)).astype(np.float32)
    cache.append(k[:, :25], v[:, :25])
    cache.append(k[:, 25:], v[:, 25:])
    q = rng.standard_normal((2, 3, 16)).astype(np.float32)
    expected = softmax_reference(q[None], k[None], v[None], causal=False)[0]
    np.testing.assert_allclose(cache.attend(q), expected, rtol=1e-5, atol=1e-6)
    assert len(cache) == 40 and cache.compressed_blocks == 0
    assert cache.memory_bytes() == 2 * 2 * 64 * 16 * 4  # the float32 block buffer


def test_spectral_cache_on_low_rank_blocks_follows_the_exact_cache(rng):
    heads, d, block = 2, 32, 64
    # keys and values of rank 4 and 6: the compression is exact up to int8 rounding
    k = rng.standard_normal((heads, 3 * block + 10, 4)) @ rng.standard_normal((heads, 4, d))
    v = rng.standard_normal((heads, 3 * block + 10, 6)) @ rng.standard_normal((heads, 6, d))
    k, v = (0.3 * k).astype(np.float32), v.astype(np.float32)
    cache = structseq.SpectralKVCache(heads, d, block_size=block, k_rank_keys=4, k_rank_values=6)
    cache.append(k, v)
    assert cache.compressed_blocks == 3 and len(cache) == 3 * block + 10
    q = rng.standard_normal((heads, 5, d)).astype(np.float32)
    out = cache.attend(q)
    expected = softmax_reference(q[None], k[None], v[None], causal=False)[0]
    assert out.shape == (heads, 5, d) and out.dtype == np.float32
    assert np.linalg.norm(out - expected) / np.linalg.norm(expected) < 0.03
    assert np.corrcoef(out.ravel(), expected.ravel())[0, 1] > 0.999
    # bytes: per full block and head, int8 U (B·r) and Vh (r·d) for keys and values, float32 S
    # and two scales per factor; plus the float32 buffer of the latest block
    per_block = heads * (block * 4 + 4 * d + 4 * (4 + 2) + block * 6 + 6 * d + 4 * (6 + 2))
    assert cache.memory_bytes() == 3 * per_block + 2 * heads * block * d * 4
    float32_bytes = 2 * heads * (3 * block + 10) * d * 4
    assert cache.compression_ratio() == pytest.approx(float32_bytes / cache.memory_bytes())


def test_spectral_cache_errors(rng):
    with pytest.raises(ValueError, match="k_rank_keys is 40"):
        structseq.SpectralKVCache(2, 32, block_size=64, k_rank_keys=40)
    cache = structseq.SpectralKVCache(2, 8, block_size=16, k_rank_keys=2, k_rank_values=2)
    with pytest.raises(ValueError, match="append"):
        cache.attend(np.zeros((2, 1, 8), np.float32))
    with pytest.raises(ValueError, match="k is shape"):
        cache.append(np.zeros((3, 1, 8), np.float32), np.zeros((3, 1, 8), np.float32))
