"""structseq.load_model against Hugging Face transformers' own MambaForCausalLM — the
implementation users run — on a small random-weight config saved with save_pretrained. Needs
PyTorch and transformers (the benchmark environment: `make bench` installs them); skipped
without them."""

import numpy as np
import pytest

import structseq

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("safe_serialization", [True, False])
def test_logits_and_steps_match_transformers(tmp_path, safe_serialization):
    torch.manual_seed(0)
    config = transformers.MambaConfig(vocab_size=101, hidden_size=32, num_hidden_layers=3,
                                      state_size=8, expand=2, conv_kernel=4)
    peer = transformers.MambaForCausalLM(config).eval()
    with torch.no_grad():  # Mamba-like but not trivial: D and norms away from 1
        for name, p in peer.named_parameters():
            if name.endswith((".D", "norm.weight", "norm_f.weight")):
                p.add_(0.2 * torch.randn_like(p))
    peer.save_pretrained(tmp_path, safe_serialization=safe_serialization)
    ours = structseq.load_model(str(tmp_path))
    tokens = np.random.default_rng(1).integers(0, 101, (2, 40))
    with torch.no_grad():
        expected = peer(torch.from_numpy(tokens)).logits.numpy()
    got = ours.logits(tokens)
    assert got.shape == expected.shape
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() <= 1e-4 * scale
    ours.reset()
    steps = np.stack([ours.step(int(t)) for t in tokens[0]])
    assert np.abs(steps - expected[0]).max() <= 1e-4 * scale
