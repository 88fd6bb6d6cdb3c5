"""The Hugging Face byte-level BPE against the `tokenizers` library itself."""

import json

import pytest

import structseq

tokenizers = pytest.importorskip("tokenizers")

TRAINING_TEXT = [
    "The quick brown fox jumps over the lazy dog. It's 2026; we'll see what they've done!",
    "Numbers: 1234567890, 3.14159, 1e-9 and ½ ⅔ ² — and ٣٤٥ too.",
    "Ünïcödé: naïve café, façade, Straße, Ελληνικά, русский, 日本語のテキスト, 한국어, emoji 🚀🔥.",
    "Whitespace:   three spaces,\ttabs\t\tand\nnewlines\n\n\nand trailing   ",
    "def f(x):\n    return x ** 2  # code\n",
] * 20

PROBES = [
    "",
    "hello world",
    "  leading and trailing  ",
    "He said: 'I'm sure they're done, we've seen it, you'd agree' — didn't he?",
    "tabs\tand\r\nCRLF\nand\n\n\nblank lines",
    "numbers 007 3.5e10 ١٢٣ Ⅻ",
    "日本語とEnglishの混在 🚀🚀 a\u00a0non-breaking\u2003em space",
    "special <|endoftext|> in the middle<|pad|>and<|endoftext|><|endoftext|>",
    "x" * 300 + " " + "yz" * 100,
    "’curly’ “quotes” …ellipsis",
]


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "prefix_space"])
def trained(request, tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=request.param)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|pad|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TRAINING_TEXT, trainer)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return tok, structseq.load_tokenizer(str(path)), path


def test_encodes_and_decodes_exactly_as_the_library(trained):
    library, ours, _ = trained
    assert ours.type == "huggingface"
    assert ours.vocab_size == library.get_vocab_size()
    for text in PROBES + TRAINING_TEXT[:5]:
        expected = library.encode(text).ids
        assert ours.encode(text) == expected, text
        assert ours.decode(expected) == library.decode(expected, skip_special_tokens=False), text


def test_merges_in_the_older_string_form_give_the_same_ids(trained, tmp_path):
    library, _, path = trained
    spec = json.loads(path.read_text())
    spec["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m
                               for m in spec["model"]["merges"]]
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    ours = structseq.load_tokenizer(str(tmp_path))
    assert ours.encode(PROBES[3]) == library.encode(PROBES[3]).ids


def test_unsupported_tokenizers_are_refused_by_name(trained, tmp_path):
    _, _, path = trained
    spec = json.loads(path.read_text())
    spec["pre_tokenizer"] = {"type": "Whitespace"}
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="Whitespace"):
        structseq.load_tokenizer(str(tmp_path / "tokenizer.json"))
    spec["model"]["type"] = "WordPiece"
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="WordPiece"):
        structseq.load_tokenizer(str(tmp_path))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        trained[1].decode([10**6])


# A Hugging Face Mamba directory that carries this tokenizer generates text: greedy decoding
# through the CLI gives the tokens of greedy decoding with the numpy reference model.
def test_a_mamba_checkpoint_with_a_tokenizer_generates(trained, tmp_path, run_cli):
    import numpy as np
    from test_mamba_model import random_weights, reference_logits, write_state_spaces

    library, ours, path = trained
    vocab = library.get_vocab_size()
    padded = -(-vocab // 8) * 8
    weights = random_weights(np.random.default_rng(11), padded)
    write_state_spaces(tmp_path, weights, vocab)
    (tmp_path / "tokenizer.json").write_text(path.read_text())
    prompt = "The quick brown"
    ids = library.encode(prompt).ids
    for _ in range(8):
        logits = reference_logits(weights, np.array([ids]))[0, -1, :vocab]
        ids.append(int(np.argmax(logits)))
    result = run_cli("generate", "--model-dir", tmp_path, "--prompt", prompt, "--max-length", "8",
                     "--temperature", "0")
    assert result.returncode == 0, result.stderr
    assert "8 tokens in" in result.stderr
    expected = prompt + library.decode(ids[len(library.encode(prompt).ids):],
                                       skip_special_tokens=False)
    if "\ufffd" not in expected:  # malformed UTF-8 is replaced byte by byte, not as Rust does
        assert result.stdout == expected + "\n"


# A byte-level BPE trained without the full byte alphabet cannot encode characters it never
# saw: a clear error naming the piece, not a silent drop.
def test_text_outside_the_vocabulary_is_an_error(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(["plain ascii text only"] * 10, trainers.BpeTrainer(vocab_size=300))
    tok.save(str(tmp_path / "tokenizer.json"))
    ours = structseq.load_tokenizer(str(tmp_path))
    assert ours.encode("plain text") == tok.encode("plain text").ids
    with pytest.raises(ValueError, match="not in the vocabulary"):
        ours.encode("日本")
