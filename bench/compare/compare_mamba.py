"""Mamba language model side by side with Hugging Face transformers' MambaForCausalLM (PyTorch,
CPU): a random-weight model saved with save_pretrained and loaded by structseq.load_model.
Quality: the largest logit difference relative to the largest logit. Speed: prompt processing
(one forward over a 128-token prompt, logits of the last position) and generation (one token
at a time on the recurrent state), tokens per second, float32, on 1 and 2 threads; and our
generation with bfloat16 step weights (load_model(weights="bfloat16")), with its logit difference
from transformers' float32 model and from transformers given the same rounded weights.

Usage: PYTHONPATH=build/python python3 bench/compare/compare_mamba.py [--repetitions 3]
       [--layers 24] [--d-model 768] [--vocab 50280]   (the default is mamba-130m's shape)
"""

import argparse
import tempfile
import time

import numpy as np

import structseq
from common import markdown_table, median_seconds

try:
    import torch
    from transformers import MambaConfig, MambaForCausalLM
except ImportError:
    torch = None


def generation_seconds_per_token(step, tokens):
    start = time.perf_counter()
    for t in tokens:
        step(t)
    return (time.perf_counter() - start) / len(tokens)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--d-model", type=int, default=768)
    parser.add_argument("--vocab", type=int, default=50280)
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--generate", type=int, default=32)
    args = parser.parse_args()
    if torch is None:
        print("torch/transformers are not installed (scripts/setup.sh --bench installs them); "
              "nothing to compare")
        return
    torch.manual_seed(0)
    config = MambaConfig(vocab_size=args.vocab, hidden_size=args.d_model,
                         num_hidden_layers=args.layers, state_size=16, expand=2, conv_kernel=4)
    peer = MambaForCausalLM(config).eval()
    prompt = np.random.default_rng(0).integers(0, args.vocab, (1, args.prompt))
    with tempfile.TemporaryDirectory() as directory:
        peer.save_pretrained(directory, safe_serialization=True)
        ours = structseq.load_model(directory)
        half = structseq.load_model(directory, weights="bfloat16")
    with torch.no_grad():
        expected = peer(torch.from_numpy(prompt)).logits.numpy()
    got = ours.logits(prompt)
    quality = np.abs(got - expected).max() / np.abs(expected).max()
    half_quality = np.abs(half.logits(prompt) - expected).max() / np.abs(expected).max()
    print(f"MambaForCausalLM (transformers), {args.layers} layers, d_model {args.d_model}, "
          f"vocab {args.vocab}, {ours.parameter_count / 1e6:.1f} M parameters, random weights; "
          f"max |Δ logits| / max |logits| over a {args.prompt}-token prompt: {quality:.1e} "
          f"(bfloat16 step weights: {half_quality:.1e})\n")
    saved = structseq.get_num_threads()
    rows = []
    for threads in (1, 2):
        structseq.set_num_threads(threads)
        torch.set_num_threads(threads)
        ours_prompt = median_seconds(lambda: ours.logits(prompt, last_only=True), args.repetitions)
        with torch.no_grad():
            peer_prompt = median_seconds(
                lambda: peer(torch.from_numpy(prompt), logits_to_keep=1), args.repetitions)
        tokens = [int(t) for t in prompt[0, : args.generate]]
        ours.reset()
        ours_gen = generation_seconds_per_token(ours.step, tokens)
        half.reset()
        half_gen = generation_seconds_per_token(half.step, tokens)
        with torch.no_grad():
            # transformers' recurrent path: a cache object carried between one-token calls.
            out = peer(torch.from_numpy(prompt[:, :1]), use_cache=True)
            cache = out.cache_params

            def peer_step(t, position=[1]):
                nonlocal cache
                o = peer(torch.tensor([[t]]), cache_params=cache, use_cache=True,
                         cache_position=torch.tensor([position[0]]))
                position[0] += 1
                cache = o.cache_params

            peer_gen = generation_seconds_per_token(peer_step, tokens[1:])
        rows.append((threads, f"{args.prompt / ours_prompt:.0f}", f"{args.prompt / peer_prompt:.0f}",
                     f"{peer_prompt / ours_prompt:.1f}×", f"{1 / ours_gen:.1f}",
                     f"{1 / peer_gen:.1f}", f"{peer_gen / ours_gen:.1f}×", f"{1 / half_gen:.1f}",
                     f"{peer_gen / half_gen:.1f}×"))
    structseq.set_num_threads(saved)
    print(markdown_table(["threads", "ours prompt tok/s", "transformers prompt tok/s", "ratio",
                          "ours generation tok/s", "transformers generation tok/s", "ratio",
                          "ours bfloat16 generation tok/s", "ratio"],
                         rows))
    # The bfloat16 model against transformers given the same rounded weights: what the rounding
    # itself changes is the network's, not ours.
    with torch.no_grad():
        for name, p in peer.named_parameters():
            if name.endswith(("in_proj.weight", "x_proj.weight", "dt_proj.weight",
                              "out_proj.weight", "embeddings.weight")):
                p.copy_(p.to(torch.bfloat16).to(torch.float32))
        rounded = peer(torch.from_numpy(prompt)).logits.numpy()
    print(f"\nbfloat16 step weights against transformers on the same rounded weights: max |Δ logits|"
          f" / max |logits| {np.abs(half.logits(prompt) - rounded).max() / np.abs(rounded).max():.1e}")


if __name__ == "__main__":
    main()
