"""Mamba checkpoints: structseq.load_model against a reference Mamba written here from the
equations (numpy, float64), in both published layouts; the recurrent step against the
sequence form; errors for missing and misshapen tensors."""

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

import structseq

D_MODEL, N_LAYER, VOCAB, D_STATE, D_CONV, EXPAND = 16, 2, 37, 4, 4, 2
D_INNER = EXPAND * D_MODEL
DT_RANK = -(-D_MODEL // 16)


def random_weights(rng, vocab_rows, bias=False):
    """Tensors by their state-spaces names (embedding under backbone.embedding.weight)."""
    w = {"backbone.embedding.weight": rng.normal(0, 1, (vocab_rows, D_MODEL)),
         "backbone.norm_f.weight": 1 + 0.1 * rng.normal(size=D_MODEL)}
    for i in range(N_LAYER):
        p, m = f"backbone.layers.{i}.", f"backbone.layers.{i}.mixer."
        w[p + "norm.weight"] = 1 + 0.1 * rng.normal(size=D_MODEL)
        w[m + "in_proj.weight"] = rng.normal(0, D_MODEL ** -0.5, (2 * D_INNER, D_MODEL))
        w[m + "conv1d.weight"] = rng.normal(0, 0.5, (D_INNER, 1, D_CONV))
        w[m + "conv1d.bias"] = rng.normal(0, 0.1, D_INNER)
        w[m + "x_proj.weight"] = rng.normal(0, D_INNER ** -0.5, (DT_RANK + 2 * D_STATE, D_INNER))
        w[m + "dt_proj.weight"] = rng.uniform(-DT_RANK ** -0.5, DT_RANK ** -0.5, (D_INNER, DT_RANK))
        dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), D_INNER))
        w[m + "dt_proj.bias"] = dt + np.log(-np.expm1(-dt))
        w[m + "A_log"] = np.log(np.tile(np.arange(1, D_STATE + 1, dtype=np.float64), (D_INNER, 1)))
        w[m + "D"] = np.ones(D_INNER) + 0.1 * rng.normal(size=D_INNER)
        w[m + "out_proj.weight"] = rng.normal(0, D_INNER ** -0.5, (D_MODEL, D_INNER))
        if bias:
            w[m + "in_proj.bias"] = rng.normal(0, 0.1, 2 * D_INNER)
            w[m + "out_proj.bias"] = rng.normal(0, 0.1, D_MODEL)
    return {k: v.astype(np.float32) for k, v in w.items()}


def reference_logits(w, tokens, embedding="backbone.embedding.weight", eps=1e-5, head=None):
    """Mamba from its equations, float64, a plain loop over time for the scan."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    silu = lambda a: a / (1 + np.exp(-a))
    softplus = lambda a: np.where(a > 20, a, np.log1p(np.exp(np.minimum(a, 20))))
    rms = lambda a, g: a / np.sqrt(np.mean(a * a, -1, keepdims=True) + eps) * g
    E = w[embedding]
    out = []
    for seq in tokens:
        x = E[seq]  # (L, D)
        L = len(seq)
        for i in range(N_LAYER):
            p, m = f"backbone.layers.{i}.", f"backbone.layers.{i}.mixer."
            h = rms(x, w[p + "norm.weight"])
            xz = h @ w[m + "in_proj.weight"].T + w.get(m + "in_proj.bias", 0)
            xi, z = xz[:, :D_INNER], xz[:, D_INNER:]
            K = w[m + "conv1d.weight"][:, 0, :]
            padded = np.vstack([np.zeros((D_CONV - 1, D_INNER)), xi])
            xc = np.stack([(padded[t:t + D_CONV] * K.T).sum(0) for t in range(L)]) + w[m + "conv1d.bias"]
            xc = silu(xc)
            dbl = xc @ w[m + "x_proj.weight"].T
            delta = softplus(dbl[:, :DT_RANK] @ w[m + "dt_proj.weight"].T + w[m + "dt_proj.bias"])
            Bm, Cm = dbl[:, DT_RANK:DT_RANK + D_STATE], dbl[:, DT_RANK + D_STATE:]
            A = -np.exp(w[m + "A_log"])
            s = np.zeros((D_INNER, D_STATE))
            y = np.zeros((L, D_INNER))
            for t in range(L):
                s = np.exp(delta[t][:, None] * A) * s + (delta[t] * xc[t])[:, None] * Bm[t][None, :]
                y[t] = s @ Cm[t] + w[m + "D"] * xc[t]
            y = y * silu(z)
            x = x + y @ w[m + "out_proj.weight"].T + w.get(m + "out_proj.bias", 0)
        out.append(rms(x, w["backbone.norm_f.weight"]) @ (E if head is None else head).T)
    return np.stack(out)


def write_state_spaces(directory, w, vocab, multiple=8):
    save_file(w, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps({
        "d_model": D_MODEL, "n_layer": N_LAYER, "vocab_size": vocab,
        "ssm_cfg": {"d_state": D_STATE}, "rms_norm": True, "residual_in_fp32": True,
        "fused_add_norm": True, "pad_vocab_size_multiple": multiple}))


def hf_names(w):
    return {k.replace("backbone.embedding.", "backbone.embeddings."): v for k, v in w.items()}


def write_hf(directory, w, bias=False):
    save_file(hf_names(w), str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps({
        "architectures": ["MambaForCausalLM"], "model_type": "mamba",
        "hidden_size": D_MODEL, "state_size": D_STATE, "num_hidden_layers": N_LAYER,
        "expand": EXPAND, "conv_kernel": D_CONV, "intermediate_size": D_INNER,
        "time_step_rank": DT_RANK, "use_bias": bias, "use_conv_bias": True,
        "layer_norm_epsilon": 1e-5, "vocab_size": VOCAB + 3, "tie_word_embeddings": True}))


def relative_error(got, expected):
    return np.abs(got - expected).max() / np.abs(expected).max()


@pytest.fixture
def tokens():
    return np.random.default_rng(5).integers(0, VOCAB, (2, 13))


def test_state_spaces_layout_matches_reference(tmp_path, tokens):
    padded = -(-VOCAB // 8) * 8  # 40
    w = random_weights(np.random.default_rng(0), padded)
    write_state_spaces(tmp_path, w, VOCAB)
    lm = structseq.load_model(str(tmp_path))
    assert lm.config["vocab_size"] == padded and lm.config["dt_rank"] == DT_RANK
    got = lm.logits(tokens)
    assert got.shape == (2, 13, padded) and got.dtype == np.float32
    assert relative_error(got, reference_logits(w, tokens)) < 1e-4
    last = lm.logits(tokens, last_only=True)
    assert last.shape == (2, 1, padded)
    np.testing.assert_allclose(last[:, 0], got[:, -1], rtol=0, atol=1e-5 * np.abs(got).max())


def test_hf_layout_with_biases_matches_reference(tmp_path, tokens):
    w = random_weights(np.random.default_rng(1), VOCAB + 3, bias=True)
    write_hf(tmp_path, w, bias=True)
    lm = structseq.load_model(str(tmp_path))
    assert relative_error(lm.logits(tokens), reference_logits(w, tokens)) < 1e-4


def test_sharded_checkpoint_loads(tmp_path, tokens):
    w = hf_names(random_weights(np.random.default_rng(2), VOCAB + 3))
    names = sorted(w)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    for file, keys in shards.items():
        save_file({k: w[k] for k in keys}, str(tmp_path / file))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {k: f for f, ks in shards.items() for k in ks}}))
    write_hf(tmp_path, random_weights(np.random.default_rng(2), VOCAB + 3))
    (tmp_path / "model.safetensors").unlink()
    lm = structseq.load_model(str(tmp_path))
    expected = reference_logits(w, tokens, embedding="backbone.embeddings.weight")
    assert relative_error(lm.logits(tokens), expected) < 1e-4


def test_step_gives_the_logits_of_the_full_forward(tmp_path):
    w = random_weights(np.random.default_rng(3), 40)
    write_state_spaces(tmp_path, w, VOCAB)
    lm = structseq.load_model(str(tmp_path))
    seq = np.random.default_rng(4).integers(0, VOCAB, 20)
    full = lm.logits(seq[None])[0]
    for repeat in range(2):  # reset() starts over
        steps = np.stack([lm.step(int(t)) for t in seq])
        assert lm.tokens_seen == len(seq)
        assert relative_error(steps, full) < 1e-4
        lm.reset()


def round_to_bfloat16(a):
    """float32 → nearest bfloat16 (ties to even), back as float32: the high 16 bits after
    adding 0x7FFF plus the lowest kept bit (finite values only)."""
    bits = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32)


def test_bfloat16_weights_match_the_reference_on_rounded_weights(tmp_path, tokens):
    w = random_weights(np.random.default_rng(7), 40)
    write_state_spaces(tmp_path, w, VOCAB)
    lm = structseq.load_model(str(tmp_path), weights="bfloat16")
    assert lm.weights == "bfloat16" and structseq.load_model(str(tmp_path)).weights == "float32"
    rounded = {k: round_to_bfloat16(v) if k.endswith(("in_proj.weight", "x_proj.weight",
                                                      "dt_proj.weight", "out_proj.weight",
                                                      "embedding.weight")) else v
               for k, v in w.items()}
    full = lm.logits(tokens)
    assert relative_error(full, reference_logits(rounded, tokens)) < 1e-4
    assert relative_error(full, reference_logits(w, tokens)) > 1e-4  # the rounding is visible
    steps = np.stack([lm.step(int(t)) for t in tokens[0]])
    assert relative_error(steps, full[0]) < 1e-4
    with pytest.raises(ValueError, match="weights"):
        structseq.load_model(str(tmp_path), weights="float16")


def test_missing_or_misshapen_tensor_is_named(tmp_path):
    w = random_weights(np.random.default_rng(6), 40)
    del w["backbone.layers.1.mixer.D"]
    write_state_spaces(tmp_path, w, VOCAB)
    with pytest.raises(ValueError, match=r"missing tensor backbone\.layers\.1\.mixer\.D"):
        structseq.load_model(str(tmp_path))
    w = random_weights(np.random.default_rng(6), 40)
    w["backbone.layers.0.mixer.x_proj.weight"] = w["backbone.layers.0.mixer.x_proj.weight"][:-1]
    write_state_spaces(tmp_path, w, VOCAB)
    with pytest.raises(ValueError, match=r"x_proj\.weight has shape \(8, 32\), expected \(9, 32\)"):
        structseq.load_model(str(tmp_path))


def test_bad_directories_and_tokens(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        structseq.load_model(str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="no config.json"):
        structseq.load_model(str(tmp_path))
    (tmp_path / "config.json").write_text('{"foo": 1}')
    with pytest.raises(ValueError, match="neither a state-spaces"):
        structseq.load_model(str(tmp_path))
    w = random_weights(np.random.default_rng(7), 40)
    write_state_spaces(tmp_path, w, VOCAB)
    lm = structseq.load_model(str(tmp_path))
    with pytest.raises(ValueError, match=r"token ids in \[0, 40\)"):
        lm.logits(np.array([[1, 40]]))
    with pytest.raises(ValueError, match="tokens"):
        lm.logits(np.array([1, 2]))


def test_cli_eval_prints_statistics_and_top_tokens(tmp_path, run_cli):
    w = random_weights(np.random.default_rng(8), 40)
    write_state_spaces(tmp_path, w, VOCAB)
    result = run_cli("eval", "--model-dir", tmp_path, "--tokens", "3,1,4,1,5")
    assert result.returncode == 0, result.stderr
    expected = reference_logits(w, np.array([[3, 1, 4, 1, 5]]))[0, -1]
    printed_max = float(result.stdout.split("max ")[1].split()[0])
    assert abs(printed_max - expected.max()) < 1e-3
    listed = [int(line.split()[0]) for line in result.stdout.splitlines()[-5:]]
    assert listed == list(np.argsort(-expected)[:5])
    bad = run_cli("eval", "--model-dir", tmp_path, "--tokens", "3,x")
    assert bad.returncode == 1 and "'x' is not a token id" in bad.stderr
    out_of_range = run_cli("eval", "--model-dir", tmp_path, "--tokens", "99")
    assert out_of_range.returncode == 1 and "token ids in [0, 40)" in out_of_range.stderr
    missing = run_cli("eval", "--model-dir", tmp_path)
    assert missing.returncode == 1 and "--tokens is required" in missing.stderr


def test_init_model_from_yaml_with_every_option():
    """A model from a YAML model: section: a BK layer between Mamba layers, low-rank
    projections, feed-forward blocks, bilinear A; its recurrent steps give its logits and its
    untrained loss is log(vocab)."""
    lm = structseq.init_model("""
model:
  vocab_size: 50
  hidden_dim: 16
  state_dim: 16
  ffn_dim: 24
  num_layers: 3
  dropout: 0
  selective_param_class: low_rank
  low_rank_dim: 4
  mixer: [ssm, bk, ssm]
  bk_channels: 6
  a_init: legs
""", seed=3)
    assert lm.config["mixers"] == ["ssm", "bk", "ssm"]
    assert lm.config["selective_param_class"] == "low_rank" and lm.config["ffn_dim"] == 24
    tokens = np.random.default_rng(0).integers(0, 50, (1, 12))
    logits = lm.logits(tokens)
    assert logits.shape == (1, 12, 50) and logits.dtype == np.float32
    steps = np.stack([lm.step(int(t)) for t in tokens[0]])
    assert np.abs(steps - logits[0]).max() <= 1e-4 * np.abs(logits).max()
    assert abs(lm.loss(tokens, np.roll(tokens, -1, axis=1)) - np.log(50)) < 0.1
    same = structseq.init_model("model: {vocab_size: 50, hidden_dim: 16, num_layers: 1}", seed=3)
    other = structseq.init_model("model: {vocab_size: 50, hidden_dim: 16, num_layers: 1}", seed=4)
    np.testing.assert_array_equal(  # same seed, same weights; another seed, others
        same.logits(tokens),
        structseq.init_model("model: {vocab_size: 50, hidden_dim: 16, num_layers: 1}",
                             seed=3).logits(tokens))
    assert np.abs(other.logits(tokens) - same.logits(tokens)).max() > 0


def test_init_model_errors_name_the_key():
    with pytest.raises(ValueError, match="hidden_dim"):
        structseq.init_model("model:\n  hidden_dims: 16\n")
    with pytest.raises(ValueError, match="model.mixer"):
        structseq.init_model("model:\n  num_layers: 2\n  mixer: [ssm, bk, ssm]\n")
