"""`structseq train`, `generate` and `eval` end to end on a micro configuration (seconds)."""

import json
import os
import pathlib
import signal
import subprocess
import time
from xml.etree import ElementTree

import pytest

MICRO = """
model: {{vocab_size: 256, hidden_dim: 16, state_dim: 4, ffn_dim: 0, num_layers: 2,
         max_seq_len: 32, dropout: 0.0, selective_param_class: dense}}
training: {{batch_size: 4, gradient_accumulation_steps: 1, max_steps: {steps}, logging_steps: 5,
            eval_steps: 10, save_steps: {save}, mixed_precision: "no",
            gradient_checkpointing: false}}
optimizer: {{learning_rate: 1.0e-2}}
scheduler: {{name: cosine, warmup_steps: 5}}
dataset: {{type: custom, data_path: "{data}", max_seq_len: 32, stride: 16, val_split: 0.2,
           test_split: 0.2}}
"""


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"Line {i}: the quick brown fox jumps over the lazy dog.\n\n"
                            for i in range(60)))
    return path


def write_config(tmp_path, corpus, steps=20, save=10, name="micro.yaml"):
    path = tmp_path / name
    path.write_text(MICRO.format(steps=steps, save=save, data=corpus))
    return path


@pytest.fixture
def trained(run_cli, tmp_path, corpus):
    out = tmp_path / "run"
    result = run_cli("train", "--config", write_config(tmp_path, corpus), "--output-dir", out,
                     "--no-progress")
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_writes_metrics_checkpoints_and_a_summary(trained):
    out, result = trained
    assert "validation loss" in result.stdout and "bits per byte" in result.stdout
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    assert [r["step"] for r in train] == [5, 10, 15, 20]
    for r in records:
        assert {"step", "split", "loss", "lr", "tokens_per_s"} <= set(r)
    assert train[-1]["loss"] < train[0]["loss"]
    assert {r["split"] for r in records} == {"train", "val", "test"}
    steps = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert steps[-1] == "step-00000020"
    for name in ("model.safetensors", "optimizer.safetensors", "trainer_state.json",
                 "config.yaml", "tokenizer.json"):
        assert (out / "checkpoints" / steps[-1] / name).exists()
    assert json.loads((out / "best.json").read_text())["step"] in (10, 20)
    svg = ElementTree.parse(out / "loss.svg").getroot()          # well-formed XML
    lines = svg.findall("{http://www.w3.org/2000/svg}polyline")
    assert [len(line.get("points").split()) for line in lines] == [4, 2]  # train, validation


def test_generate_is_deterministic_for_a_seed_and_streams_the_prompt(run_cli, trained,
                                                                     tmp_path):
    out, _ = trained
    args = ["generate", "--model-dir", out, "--prompt", "Line 7:", "--max-length", "40"]
    a = run_cli(*args, "--seed", "3")
    b = run_cli(*args, "--seed", "3")
    c = run_cli(*args, "--seed", "4", "--temperature", "1.5", "--top-k", "0", "--top-p", "1")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    assert a.stdout.startswith("Line 7:") and "40 tokens in" in a.stderr
    assert c.stdout != a.stdout
    greedy = run_cli(*args, "--temperature", "0", "--output-file", tmp_path / "g.txt",
                     "--checkpoint", "latest")
    assert greedy.returncode == 0, greedy.stderr
    assert (tmp_path / "g.txt").read_text() == greedy.stdout


def test_generate_with_bfloat16_weights(run_cli, trained):
    out, _ = trained
    args = ["generate", "--model-dir", out, "--prompt", "Line 7:", "--max-length", "20",
            "--temperature", "0"]
    plain = run_cli(*args)
    half = run_cli(*args, "--weights", "bfloat16")
    assert half.returncode == 0, half.stderr
    assert half.stdout.startswith("Line 7:") and "20 tokens in" in half.stderr
    assert "bfloat16 weights" in half.stderr and "float32 weights" in plain.stderr
    bad = run_cli(*args, "--weights", "float16")
    assert bad.returncode != 0 and "--weights" in bad.stderr
    evaluated = run_cli("eval", "--model-dir", out, "--weights", "bfloat16")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "bfloat16 weights" in evaluated.stdout and "perplexity" in evaluated.stdout


def test_eval_reports_the_split_loss(run_cli, trained):
    out, _ = trained
    for split in ("val", "test"):
        result = run_cli("eval", "--model-dir", out, "--split", split)
        assert result.returncode == 0, result.stderr
        assert f"{split} split" in result.stdout and "bits per byte" in result.stdout


def test_resume_continues_to_the_same_losses(run_cli, tmp_path, corpus):
    config = write_config(tmp_path, corpus)
    whole, paused = tmp_path / "whole", tmp_path / "paused"
    assert run_cli("train", "--config", config, "--output-dir", whole).returncode == 0
    first = run_cli("train", "--config", config, "--output-dir", paused, "--stop-after", "12")
    assert first.returncode == 0, first.stderr
    second = run_cli("train", "--config", config, "--output-dir", paused, "--resume")
    assert second.returncode == 0, second.stderr

    def train_losses(out):
        return [(r["step"], r["loss"]) for r in map(json.loads, (out / "metrics.jsonl")
                .read_text().splitlines()) if r["split"] == "train" and r["step"] % 5 == 0
                and r["step"] > 15]

    assert train_losses(whole) == train_losses(paused)


@pytest.mark.parametrize("case", ["unknown_key", "empty_dataset", "short_dataset",
                                  "missing_data", "vocabulary"])
def test_bad_training_input_is_a_one_line_error(run_cli, tmp_path, corpus, case):
    config = write_config(tmp_path, corpus)
    text = config.read_text()
    if case == "unknown_key":
        text = text.replace("batch_size", "batch_sise")
    elif case == "empty_dataset":
        (tmp_path / "empty.txt").write_text("\n\n")
        text = text.replace(str(corpus), str(tmp_path / "empty.txt"))
    elif case == "short_dataset":
        text = text.replace("max_seq_len: 32, stride", "max_seq_len: 5000, stride")
    elif case == "missing_data":
        text = text.replace(str(corpus), str(tmp_path / "absent.txt"))
    else:
        text = text.replace("vocab_size: 256", "vocab_size: 100")
    config.write_text(text)
    result = run_cli("train", "--config", config, "--output-dir", tmp_path / "out")
    assert result.returncode in (1, 2), result.stdout
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, result.stderr
    expected = {"unknown_key": "batch_sise", "empty_dataset": "no documents",
                "short_dataset": "max_seq_len", "missing_data": "absent.txt",
                "vocabulary": "vocab_size"}[case]
    assert expected in errors[0]


def test_a_fresh_run_refuses_a_directory_holding_checkpoints(run_cli, trained, tmp_path,
                                                            corpus):
    out, _ = trained
    again = run_cli("train", "--config", write_config(tmp_path, corpus), "--output-dir", out)
    assert again.returncode == 1 and "--resume" in again.stderr


def test_bad_generation_input_is_a_one_line_error(run_cli, trained, tmp_path, corpus):
    out, _ = trained
    missing = run_cli("generate", "--model-dir", tmp_path / "nothing", "--prompt", "x")
    assert missing.returncode == 1 and "no checkpoints" in missing.stderr
    other = write_config(tmp_path, corpus, name="other.yaml")
    other.write_text(other.read_text().replace("hidden_dim: 16", "hidden_dim: 32"))
    mismatch = run_cli("generate", "--model-dir", out, "--config", other, "--prompt", "x")
    assert mismatch.returncode == 1 and "does not match" in mismatch.stderr
    empty = run_cli("generate", "--model-dir", out, "--prompt", "")
    assert empty.returncode == 1 and "--prompt" in empty.stderr
    latest = sorted((out / "checkpoints").iterdir())[-1]
    weights = latest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    corrupt = run_cli("generate", "--model-dir", out, "--checkpoint", latest, "--prompt", "x")
    assert corrupt.returncode == 1 and "model.safetensors" in corrupt.stderr


# A training run saving at every step, killed at several moments: every checkpoint folder that
# exists is complete and loads.
def test_a_run_killed_while_saving_leaves_loadable_checkpoints(structseq_bin, run_cli,
                                                               tmp_path, corpus):
    config = write_config(tmp_path, corpus, steps=100000, save=1)
    out = tmp_path / "killed"
    for delay in (0.4, 0.7, 1.0):
        process = subprocess.Popen(
            [str(structseq_bin), "train", "--config", str(config), "--output-dir", str(out),
             "--no-progress"] + (["--resume"] if (out / "checkpoints").exists() else []),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        folders = [p for p in (out / "checkpoints").iterdir() if not p.name.startswith(".")]
        assert folders
        for folder in sorted(folders)[-2:]:
            result = run_cli("generate", "--model-dir", out, "--checkpoint", folder,
                             "--prompt", "Line", "--max-length", "3")
            assert result.returncode == 0, (folder, result.stderr)


ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["tiny", "bk", "default", "mixers/ssm", "mixers/bk",
                                  "mixers/attention", "mixers/ridge"])
def test_bundled_configs_are_valid(run_cli, name, tmp_path):
    result = run_cli("train", "--config", ROOT / "configs" / f"{name}.yaml", "--dry-run",
                     "--output-dir", tmp_path / "never")
    assert result.returncode == 0, result.stderr
    assert "valid;" in result.stdout and "steps planned" in result.stdout
    assert not (tmp_path / "never").exists()


def test_the_seed_config_says_what_it_is_missing(run_cli, tmp_path):
    result = run_cli("train", "--config", ROOT / "configs" / "seed.yaml", "--output-dir",
                     tmp_path / "out")
    assert result.returncode == 1
    assert "vocab_size = 50000" in result.stderr        # a warning: no 50000-token tokenizer
    assert "phi4_dataset.json" in result.stderr and "create-synthetic" in result.stderr


def test_a_sentencepiece_tokenizer_is_trained_saved_and_used(run_cli, tmp_path, corpus):
    import structseq

    config = write_config(tmp_path, corpus, steps=4)
    config.write_text(config.read_text().replace("vocab_size: 256", "vocab_size: 420")
                      + "tokenizer: {type: sentencepiece, vocab_size: 400}\n")
    out = tmp_path / "sp"
    result = run_cli("train", "--config", config, "--output-dir", out)
    assert result.returncode == 0, result.stderr
    latest = sorted((out / "checkpoints").iterdir())[-1]
    assert json.loads((latest / "tokenizer.json").read_text())["type"] == "sentencepiece"
    tok = structseq.load_tokenizer(str(latest))
    assert tok.type == "sentencepiece" and 300 < tok.vocab_size <= 400
    assert len(tok.encode("Line 12: the quick brown fox")) < len("Line 12: the quick brown fox")
    text = "Line 12: the quick brown fox — ünïcode ✓"   # unseen characters: byte fallback
    assert tok.decode(tok.encode(text)) == text
    generated = run_cli("generate", "--model-dir", out, "--prompt", "Line 3:", "--max-length", "5")
    assert generated.returncode == 0, generated.stderr
    assert "5 tokens in" in generated.stderr
