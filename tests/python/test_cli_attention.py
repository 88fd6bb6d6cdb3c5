"""Attention and ridge layers through the CLI: training, generation with the exact and the
spectral KV cache, evaluation, and the attention heat map (a micro model, seconds)."""

from xml.etree import ElementTree

import numpy as np
import pytest

import structseq

MICRO = """
model: {{vocab_size: 256, hidden_dim: 16, state_dim: 4, ffn_dim: 24, num_layers: 2,
         max_seq_len: 32, dropout: 0.0, selective_param_class: dense,
         mixer: [attention, ridge], attention_heads: 2, positions: {positions}}}
training: {{batch_size: 4, max_steps: 20, logging_steps: 5, eval_steps: 10, save_steps: 10}}
optimizer: {{learning_rate: 1.0e-2}}
scheduler: {{name: cosine, warmup_steps: 5}}
dataset: {{type: custom, data_path: "{data}", max_seq_len: 32, stride: 16, val_split: 0.2,
           test_split: 0.2}}
"""


@pytest.fixture(params=["rotary", "learned"])
def trained(request, run_cli, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"Line {i}: the quick brown fox jumps over the lazy dog.\n\n"
                              for i in range(60)))
    config = tmp_path / "micro.yaml"
    config.write_text(MICRO.format(data=corpus, positions=request.param))
    out = tmp_path / "run"
    result = run_cli("train", "--config", config, "--output-dir", out, "--no-progress")
    assert result.returncode == 0, result.stderr
    return out, request.param


def test_generation_with_exact_and_spectral_caches(run_cli, trained):
    out, positions = trained
    args = ["generate", "--model-dir", out, "--prompt", "Line 7:", "--temperature", "0"]
    length = "20" if positions == "learned" else "60"  # learned positions stop at 32
    exact = run_cli(*args, "--max-length", length)
    assert exact.returncode == 0, exact.stderr
    assert "exact KV cache" in exact.stderr
    # a block the sequence never fills: nothing is compressed, the same tokens
    same = run_cli(*args, "--max-length", length, "--kv-cache", "spectral", "--block-size", "512",
                   "--k-rank-keys", "2", "--k-rank-values", "2")
    assert same.returncode == 0, same.stderr
    assert same.stdout == exact.stdout and "spectral KV cache" in same.stderr
    compressed = run_cli(*args, "--max-length", length, "--kv-cache", "spectral", "--block-size",
                         "8", "--k-rank-keys", "2", "--k-rank-values", "3")
    assert compressed.returncode == 0, compressed.stderr
    assert compressed.stdout.startswith("Line 7:")
    bad = run_cli(*args, "--kv-cache", "spectral", "--k-rank-keys", "9")
    assert bad.returncode != 0 and "k_rank_keys is 9" in bad.stderr
    if positions == "learned":
        long = run_cli(*args, "--max-length", "40")
        assert long.returncode != 0 and "max_seq_len = 32" in long.stderr


def test_eval_of_an_attention_model(run_cli, trained):
    out, _ = trained
    result = run_cli("eval", "--model-dir", out, "--split", "val")
    assert result.returncode == 0, result.stderr
    assert "perplexity" in result.stdout


def test_attention_map_writes_an_svg_heat_map(run_cli, trained, tmp_path):
    out, _ = trained
    svg = tmp_path / "map.svg"
    result = run_cli("attention-map", "--model-dir", out, "--prompt", "Line 3: the fox",
                     "--layer", "1", "--head", "1", "--output", svg)
    assert result.returncode == 0, result.stderr
    assert "layer 1 (ridge), head 1, 15 tokens" in result.stdout
    root = ElementTree.parse(svg).getroot()
    assert root.tag.endswith("svg")
    titles = [e.text for e in root.iter() if e.tag.endswith("title")]
    # one cell per (query, key ≤ query) with a non-zero weight, labelled with its value
    assert 0 < len(titles) <= 15 * 16 // 2 and "query 14 ← key 0" in "".join(titles)
    first = run_cli("attention-map", "--model-dir", out, "--prompt", "Line 3", "--output", svg)
    assert first.returncode == 0 and "layer 0 (attention), head 0, 6 tokens" in first.stdout
    for bad, message in ((["--head", "2"], "--head 2"), (["--layer", "5"], "--layer 5")):
        result = run_cli("attention-map", "--model-dir", out, "--prompt", "x", "--output", svg,
                         *bad)
        assert result.returncode != 0 and message in result.stderr



def test_load_model_reads_a_trained_run(trained):
    out, _ = trained
    lm = structseq.load_model(str(out))
    tokens = np.array([[76, 105, 110, 101, 32, 51]])
    logits = lm.logits(tokens)
    assert logits.shape == (1, 6, 256)
    steps = [lm.step(int(t)) for t in tokens[0]]
    np.testing.assert_allclose(np.stack(steps), logits[0], rtol=1e-4, atol=1e-4)
    latest = structseq.load_model(str(out), checkpoint="latest")
    assert latest.logits(tokens).shape == (1, 6, 256)
