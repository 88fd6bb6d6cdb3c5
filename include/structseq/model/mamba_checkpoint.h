#pragma once
// Mamba checkpoint directories as published on the Hugging Face hub, in either layout:
//   state-spaces/mamba-*: config.json {d_model, n_layer, vocab_size, ssm_cfg, rms_norm,
//     pad_vocab_size_multiple, ...}; tensors backbone.embedding.weight (vocabulary padded up to
//     the multiple), backbone.layers.{i}.mixer.{in_proj.weight, conv1d.weight (d_inner, 1,
//     d_conv), conv1d.bias, x_proj.weight, dt_proj.weight, dt_proj.bias, A_log, D,
//     out_proj.weight}, backbone.layers.{i}.norm.weight, backbone.norm_f.weight;
//   transformers MambaForCausalLM (*-hf): config.json {hidden_size, state_size,
//     num_hidden_layers, expand, conv_kernel, intermediate_size, time_step_rank, use_bias,
//     use_conv_bias, layer_norm_epsilon, vocab_size, tie_word_embeddings}; the same tensor names
//     with backbone.embeddings.weight, and lm_head.weight when the head is not tied.
// Tensors come from model.safetensors, from the shards that model.safetensors.index.json
// lists, or from pytorch_model.bin (torch.save's format, read by io/torch_checkpoint.h's
// restricted unpickler); F32, F16 or BF16, loaded as float32. A missing tensor or a wrong shape is
// an Error naming the tensor and the file.

#include "structseq/model/mamba_model.h"

#include <string>

namespace structseq {

MambaModel load_mamba_checkpoint(const std::string& directory);

}  // namespace structseq
