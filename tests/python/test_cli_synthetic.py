"""`structseq create-synthetic` with a structseq model teacher and with an Ollama server (a
small local HTTP server in the test that answers as Ollama's /api/generate does)."""

import http.server
import json
import socket
import threading

import pytest

from test_cli_train import corpus, trained, write_config  # noqa: F401 (fixtures)


def read_records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_model_teacher_writes_samples_with_its_top_k_logits(run_cli, trained, tmp_path,
                                                              corpus):
    out, _ = trained
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Line 1:\nThe quick\n")
    result = run_cli("create-synthetic", "--teacher", f"model:{out}", "--num-samples", "3",
                     "--max-length", "20", "--prompts", prompts, "--output-dir", tmp_path,
                     "--output-file", "s.jsonl", "--distillation", "--top-k", "5")
    assert result.returncode == 0, result.stderr
    records = read_records(tmp_path / "s.jsonl")
    assert [r["prompt"] for r in records] == ["Line 1:", "The quick", "Line 1:"]
    for r in records:
        assert r["teacher"] == f"model:{out}"
        assert r["text"] == r["prompt"] + r["completion"]
        assert len(r["tokens"]) == len(r["prompt"].encode()) + 20     # byte tokenizer
        assert len(r["top_ids"]) == len(r["tokens"]) - 1
        assert all(len(ids) == 5 and len(ls) == 5 and ls == sorted(ls, reverse=True)
                   for ids, ls in zip(r["top_ids"], r["top_logits"]))
    # Same seed, same samples.
    again = run_cli("create-synthetic", "--teacher", f"model:{out}", "--num-samples", "3",
                    "--max-length", "20", "--prompts", prompts, "--output-dir", tmp_path,
                    "--output-file", "t.jsonl", "--distillation", "--top-k", "5")
    assert again.returncode == 0
    assert (tmp_path / "t.jsonl").read_text() == (tmp_path / "s.jsonl").read_text()


class OllamaLike(http.server.BaseHTTPRequestHandler):
    requests = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        OllamaLike.requests.append((self.path, body))
        if body["model"] == "missing":
            self.send_response(404)
            reply = {"error": "model 'missing' not found"}
        else:
            self.send_response(200)
            reply = {"model": body["model"], "response": f" answer to <{body['prompt']}> é",
                     "done": True}
        data = json.dumps(reply).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def ollama():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OllamaLike)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    OllamaLike.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_ollama_teacher_is_called_as_its_api_expects(run_cli, ollama, tmp_path):
    result = run_cli("create-synthetic", "--teacher", "ollama:phi4-mini", "--ollama-url",
                     ollama, "--num-samples", "2", "--temperature", "0.5", "--max-length", "64",
                     "--output-dir", tmp_path, "--output-file", "o.json", "--seed", "7")
    assert result.returncode == 0, result.stderr
    path, body = OllamaLike.requests[1]
    assert path == "/api/generate"
    assert body["model"] == "phi4-mini" and body["stream"] is False
    assert body["options"] == {"temperature": 0.5, "seed": 8, "num_predict": 64}
    records = read_records(tmp_path / "o.json")
    assert records[0]["completion"] == f" answer to <{records[0]['prompt']}> é"
    assert records[1]["teacher"] == "ollama:phi4-mini"


def test_ollama_errors_are_clear(run_cli, ollama, tmp_path):
    with socket.socket() as s:       # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    nothing = run_cli("create-synthetic", "--teacher", "ollama:phi4-mini", "--ollama-url",
                      f"http://127.0.0.1:{free}", "--output-dir", tmp_path)
    assert nothing.returncode == 1 and "cannot connect" in nothing.stderr
    missing = run_cli("create-synthetic", "--teacher", "ollama:missing", "--ollama-url", ollama,
                      "--output-dir", tmp_path)
    assert missing.returncode == 1 and "404" in missing.stderr and "not found" in missing.stderr
    logits = run_cli("create-synthetic", "--teacher", "ollama:phi4-mini", "--ollama-url", ollama,
                     "--distillation", "--output-dir", tmp_path)
    assert logits.returncode == 1 and "--distillation" in logits.stderr
    bad = run_cli("create-synthetic", "--teacher", "gpt:4", "--output-dir", tmp_path)
    assert bad.returncode == 1 and "model:DIR" in bad.stderr
    assert not list(tmp_path.glob("*.json"))


def test_training_reads_a_synthetic_dataset(run_cli, trained, tmp_path, corpus):
    out, _ = trained
    made = run_cli("create-synthetic", "--teacher", f"model:{out}", "--num-samples", "12",
                   "--max-length", "40", "--output-dir", tmp_path, "--output-file", "d.json")
    assert made.returncode == 0, made.stderr
    config = write_config(tmp_path, corpus, name="synthetic.yaml")
    config.write_text(config.read_text().replace("type: custom", "type: synthetic")
                      .replace(str(corpus), str(tmp_path / "d.json")))
    result = run_cli("train", "--config", config, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "steps planned" in result.stdout


def test_training_distills_from_a_dataset_with_teacher_logits(run_cli, trained, tmp_path,
                                                               corpus):
    out, _ = trained
    made = run_cli("create-synthetic", "--teacher", f"model:{out}", "--num-samples", "12",
                   "--max-length", "40", "--output-dir", tmp_path, "--output-file", "k.jsonl",
                   "--distillation", "--top-k", "4")
    assert made.returncode == 0, made.stderr
    config = write_config(tmp_path, corpus, steps=6, name="distill.yaml")
    config.write_text(config.read_text().replace("type: custom", "type: synthetic")
                      .replace(str(corpus), str(tmp_path / "k.jsonl"))
                      + "distillation: {temperature: 2.0, alpha: 0.5, top_k: 4}\n")
    result = run_cli("train", "--config", config, "--output-dir", tmp_path / "student")
    assert result.returncode == 0, result.stderr
    assert "training distills (T = 2, α = 0.5)" in result.stderr


class SlowToClose(OllamaLike):
    """Answers at once, then holds the connection open for a long time."""

    def do_POST(self):
        super().do_POST()
        self.wfile.flush()
        import time
        time.sleep(30)


def test_a_reply_is_read_by_its_content_length_not_the_close(run_cli, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowToClose)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = run_cli("create-synthetic", "--teacher", "ollama:phi4-mini", "--ollama-url", url,
                         "--num-samples", "1", "--output-dir", tmp_path, timeout=15)
        assert result.returncode == 0, result.stderr
    finally:
        server.shutdown()
