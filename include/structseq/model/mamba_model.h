#pragma once
// A Mamba language model (Gu & Dao 2023; mamba_ssm's MambaLMHeadModel) for inference:
//   x₀ = E[tokens];  x_{l+1} = x_l + Mixer_l(RMSNorm_l(x_l));  logits = RMSNorm_f(x_L) Eᵀ
// (the head is tied to the embedding E unless a separate head is given). With ffn_dim > 0 each
// layer adds a feed-forward block after its mixer (seed 002's `ffn_dim`, `activation`):
//   x ← x + FFN_l(RMSNorm'_l(x)).
// A layer's mixer is Mamba's (below) or, where config.mixers says so, the causal BK mixer ("bk",
// nn/bk_mixer.h), causal softmax attention ("attention") or causal ridge attention ("ridge",
// nn/attention_mixer.h); attention layers take rotary positions, or learned absolute ones added
// to x₀ (config.positions = "learned": x₀ = E[tokens] + P[0 … L−1]). One Mamba mixer, over a
// sequence of length L with d_inner = expand · d_model channels and state size N:
//   [x, z] = h W_inᵀ (+ b_in)                                  (L, 2 d_inner)
//   x ← silu(causal depthwise conv(x) + b_conv)                 kernel d_conv per channel
//   [δ_low, B, C] = x W_xᵀ                                      (L, dt_rank + 2N)
//   Δ = softplus(δ_low W_dtᵀ + b_dt),  A = −exp(A_log)
//   y = selective_scan(x, Δ, A, B, C, D, z)        (ssm/selective_scan_time_major.h, in place)
//   out = y W_outᵀ (+ b_out)
// The recurrent form (`step`) carries per layer the last d_conv inputs of the convolution and
// the scan state (batch, d_inner, N): O(1) time and memory per token, the same logits as the
// sequence form up to float32 rounding. Weights and activations are float32 (float64 works too,
// except for `step`, which is float32 only); the scan runs in the weights' precision.

#include "structseq/core/tensor.h"
#include "structseq/nn/attention_mixer.h"
#include "structseq/nn/bfloat16_matrix.h"
#include "structseq/nn/bk_mixer.h"
#include "structseq/nn/feed_forward.h"
#include "structseq/nn/mamba_mixer.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace structseq {

struct MambaConfig {
    std::int64_t d_model = 0;
    std::int64_t n_layer = 0;
    std::int64_t vocab_size = 0;  // rows of the embedding (padded vocabulary)
    std::int64_t d_state = 16;
    std::int64_t d_conv = 4;
    std::int64_t d_inner = 0;  // expand · d_model
    std::int64_t dt_rank = 0;  // ⌈d_model / 16⌉ by default
    double norm_eps = 1e-5;
    std::string discretization = "zoh";  // of A in every mixer: "zoh" (Mamba's) or "bilinear"
    // in_proj, x_proj, out_proj (seed 002's selective parameterization, nn/projection.h):
    // "dense" (Mamba's), "sparse" (block-sparse at sparsity_level) or "low_rank" (low_rank_dim;
    // 0: ⌈d_model / 4⌉). Used when weights are initialized (mamba_init.h); loaded weights carry
    // their own form.
    std::string selective_param_class = "dense";
    double sparsity_level = 0.9;
    std::int64_t low_rank_dim = 0;
    // Per layer "ssm" (Mamba's mixer) or "bk" (nn/bk_mixer.h, bk_channels potentials; 0:
    // d_model); empty: every layer "ssm".
    std::vector<std::string> mixers;
    std::int64_t bk_channels = 0;
    // "attention" and "ridge" layers: heads (0: max(1, d_model / 64)) and positions, "rotary" or
    // "learned" (a (max_seq_len, d_model) table; sequences longer than max_seq_len are refused).
    std::int64_t attention_heads = 0;
    std::string positions = "rotary";
    std::int64_t max_seq_len = 1024;
    std::int64_t ffn_dim = 0;         // > 0: a feed-forward block after each mixer
    std::string activation = "gelu";  // of the feed-forward blocks (nn/feed_forward.h)
};

// Mamba's dt_rank for a width: ⌈d_model / 16⌉.
inline std::int64_t default_dt_rank(std::int64_t d_model) {
    return (d_model + 15) / 16;
}

// Mamba's shape for a width: d_inner = 2 d_model (expand 2), d_state 16, d_conv 4, the default
// dt_rank; every other field at its default.
inline MambaConfig mamba_config(std::int64_t d_model, std::int64_t n_layer,
                                std::int64_t vocab_size) {
    MambaConfig c;
    c.d_model = d_model;
    c.n_layer = n_layer;
    c.vocab_size = vocab_size;
    c.d_inner = 2 * d_model;
    c.dt_rank = default_dt_rank(d_model);
    return c;
}

// The heads of the attention layers: config.attention_heads, or max(1, d_model / 64) for 0.
inline std::int64_t attention_heads(const MambaConfig& c) {
    return c.attention_heads > 0 ? c.attention_heads
                                 : (c.d_model / 64 > 1 ? c.d_model / 64 : std::int64_t{1});
}

struct MambaLayerWeights {
    Tensor norm;                      // (d_model)
    MambaMixerWeights mixer;          // the selective-SSM mixer ("ssm" layers)
    BkMixerWeights bk;                // the causal BK mixer ("bk" layers; nn/bk_mixer.h)
    AttentionMixerWeights attention;  // "attention" and "ridge" layers (nn/attention_mixer.h)
    Tensor ffn_norm;                  // (d_model), with ffn_dim > 0
    FeedForwardWeights ffn;           // with ffn_dim > 0
};

struct MambaWeights {
    Tensor embedding;  // (vocab_size, d_model)
    std::vector<MambaLayerWeights> layers;
    Tensor norm_f;     // (d_model)
    Tensor head;       // (vocab_size, d_model), or undefined: tied to the embedding
    Tensor positions;  // (max_seq_len, d_model) with learned positions, else undefined

    // Zero tensors shaped like these weights, for gradients.
    MambaWeights zeros_like() const;
    // Every defined tensor with its name ("embedding", "layers.3.mixer.in_proj.U", …), in a
    // fixed order: the same for weights and for their zeros_like() gradients.
    std::vector<std::pair<std::string, Tensor*>> named_tensors();
};

// Recurrent inference state for `batch` sequences; starts empty (all zeros).
struct MambaState {
    std::int64_t batch = 0;
    std::int64_t tokens_seen = 0;
    std::vector<Tensor> conv;  // per layer (batch, d_inner, d_conv): the last d_conv inputs
    std::vector<Tensor> ssm;   // per layer (batch, d_inner, d_state); for "bk" layers the
                               // pivots (batch, bk_channels, 2) and no conv
    // per layer, for "attention" and "ridge" layers: one cache per sequence (else empty)
    std::vector<std::vector<AttentionMixerCache>> attention;

    // Bytes held by the attention layers' KV caches (exact or spectral), 0 without attention.
    std::int64_t kv_cache_bytes() const;
};

class MambaModel {
public:
    // Checks every shape against the config (errors name the weight: "layers.3.x_proj").
    MambaModel(MambaConfig config, MambaWeights weights);

    const MambaConfig& config() const { return config_; }
    const MambaWeights& weights() const { return weights_; }
    std::int64_t parameter_count() const;

    // Stores the weights that make up a step's memory traffic in bfloat16 (nn/bfloat16_matrix.h):
    // every Mamba mixer's dense in_proj, x_proj, dt_proj and out_proj, and the output head (the
    // embedding when tied). step() then reads half their bytes. The float32 weights are rounded
    // to the same values and kept for logits() and loss(), which run GEMMs, so all three agree
    // and the model takes 1.5 times its float32 memory. Attention, BK and feed-forward layers and
    // sparse or low-rank projections stay float32. Later changes to the float32 weights (through
    // weights()) do not reach the bfloat16 copies: quantize a trained model. Error unless the
    // model is float32.
    void quantize_weights_to_bfloat16();
    bool bfloat16_weights() const { return bf16_head_.defined(); }
    // Bytes of parameter_count()'s weights at the precision step() reads them: 4 per float32
    // value, 2 per bfloat16 one.
    std::int64_t step_weight_bytes() const;

    // tokens (batch, L) int64 in [0, vocab_size) → logits (batch, L, vocab_size) float32, or
    // (batch, 1, vocab_size) for the last position only (what generation needs).
    Tensor logits(const Tensor& tokens, bool last_only = false) const;

    // Mean cross-entropy of next-token prediction: the logits at (b, t) against targets[b, t]
    // (int64, same shape as tokens; negative targets are ignored). When `grads` is given
    // (shaped by weights().zeros_like()), adds the loss's gradient for every weight.
    double loss(const Tensor& tokens, const Tensor& targets, MambaWeights* grads = nullptr) const;

    // Knowledge distillation (Hinton et al. 2015): at each counted position the loss becomes
    //   (1 − α) · cross-entropy + α · T² · KL(p_teacher ‖ p_student),
    // p_student = softmax(logits / T), p_teacher = softmax(teacher logits / T) over the teacher's
    // top-k ids (zero elsewhere). Positions whose teacher ids are all −1 keep the plain
    // cross-entropy. ids (batch, L, k) int64, logits (batch, L, k) float32.
    struct Distillation {
        Tensor ids, logits;
        double temperature = 2.0;
        double alpha = 0.5;
    };
    double loss(const Tensor& tokens, const Tensor& targets, const Distillation& teacher,
                MambaWeights* grads = nullptr) const;

    // kv_cache: the KV cache of "attention" layers (exact, or spectral: attention/kv_cache.h).
    MambaState initial_state(std::int64_t batch, const KvCacheOptions& kv_cache = {}) const;
    // The attention weights of an "attention" or "ridge" layer for one sequence: tokens (1, L)
    // → (heads, L, L) (nn/attention_mixer.h, attention_mixer_weights).
    Tensor attention_weights(const Tensor& tokens, std::int64_t layer) const;
    // tokens (batch,) int64 → next-token logits (batch, vocab_size); advances `state`.
    Tensor step(const Tensor& tokens, MambaState& state) const;
    // Gradient checkpointing for loss() with gradients: keep only each layer's input in the
    // forward and recompute the layer's activations just before its backward — activation
    // memory of one layer instead of all, for one more forward pass. The same gradients, bit for
    // bit.
    void set_recompute_layers(bool recompute) { recompute_layers_ = recompute; }
    bool recompute_layers() const { return recompute_layers_; }

    // Dropout (seed 002's model.dropout): while p > 0, logits() and loss() drop each mixer's and
    // feed-forward block's output before its residual add with probability p and scale the rest
    // by 1/(1 − p) (inverted dropout); step() never does. The masks are drawn from
    // (seed, step, layer), so a recomputed layer and a resumed run see the same ones; a trainer
    // sets p = 0 to evaluate. Error for p outside [0, 1).
    void set_dropout(double p, std::uint64_t seed = 0, std::uint64_t step = 0);
    double dropout() const { return dropout_p_; }

    // Whether layer l's mixer is the BK mixer; softmax or ridge attention.
    bool is_bk_layer(std::int64_t l) const;
    bool is_attention_layer(std::int64_t l) const;
    AttentionMixerOptions attention_options() const;

private:
    // tokens (batch, L) → (batch·L, d_model), with learned positions first_position, … added.
    Tensor embed(const Tensor& tokens, std::int64_t first_position = 0) const;
    // int64 ids in [0, vocab_size); Error naming the first one outside.
    void check_tokens(std::string_view where, const Tensor& tokens) const;
    Tensor head_logits(const Tensor& x) const;  // (M, d_model) → (M, vocab_size)
    // A layer's input and its mixer's activations, kept for the loss's backward.
    struct LayerRecord {
        Tensor input;
        MambaMixerSaved mixer;
        BkMixerSaved bk;
        AttentionMixerSaved attention;
        Tensor ffn_input;  // with ffn_dim > 0
        FeedForwardSaved ffn;
        Tensor mixer_mask, ffn_mask;  // with dropout
    };
    // tokens (batch, L) through the embedding and every layer: x_L as (batch·L, d_model).
    // With `record`, keeps one LayerRecord per layer (only its input with `inputs_only`).
    Tensor hidden_states(std::string_view where, const Tensor& tokens,
                         std::vector<LayerRecord>* record = nullptr,
                         bool inputs_only = false) const;
    // Layer l on its input x (batch·L, d_model); fills `record` when given.
    Tensor layer_forward(std::int64_t l, Tensor x, std::int64_t batch, std::int64_t length,
                         LayerRecord* record) const;
    // x (batch, d_model) += layer `layer`'s mixer applied to the layer's RMSNorm of x.
    void mixer_step(std::int64_t layer, Tensor& x, MambaState& state) const;

    MambaConfig config_;
    MambaWeights weights_;
    // Per layer the Mamba mixer's bfloat16 matrices and the head's, empty until
    // quantize_weights_to_bfloat16 (and where a matrix stays float32).
    struct BFloat16Mixer {
        BFloat16Matrix in_proj, x_proj, dt_proj, out_proj;
    };
    std::vector<BFloat16Mixer> bf16_mixers_;
    BFloat16Matrix bf16_head_;
    std::vector<Tensor> A_;  // per layer −exp(A_log), (d_inner, d_state)
    bool recompute_layers_ = false;
    double dropout_p_ = 0;
    std::uint64_t dropout_seed_ = 0, dropout_step_ = 0;
    // The dropout mask of layer l's block `part` (0: mixer, 1: feed-forward), shaped like y.
    Tensor dropout_mask_for(std::int64_t l, int part, const Tensor& y) const;
};

}  // namespace structseq
