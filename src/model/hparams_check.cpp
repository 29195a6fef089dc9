#include "model/hparams_check.h"

#include <fmt/format.h>
#include <gguf.h>
#include <llama-arch.h>
#include <llama-hparams.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace clinbench {

namespace {

// A context of 2^27 tokens: far above any published model's (10M tokens). llama.cpp pads the
// context in a uint32, so near 2^32 it wraps to 0 and aborts, and even unallocated its KV-cache
// bookkeeping grows with the context (8 GiB of host memory at 2^31 tokens).
constexpr uint32_t kMaxContext = 1u << 27;
// What converters write for "no such token" (-1 as a u32).
constexpr uint32_t kNoToken = 0xffffffffu;

// A uint32 key as llama.cpp reads it: a u32 scalar, or for per-block keys (read with
// get_key_or_arr) an array of u32 or i32 with one value per block.
struct Key {
  std::string name;
  std::vector<uint32_t> values;  // one per block for a per-block key, else one
  bool array = false;

  uint32_t at(uint32_t block) const { return array ? values[block] : values[0]; }
  // "llama.attention.head_count = 8", or "...head_count[3] = 8" for an array.
  std::string show(uint32_t block = 0) const {
    return array ? fmt::format("{}[{}] = {}", name, block, values[block])
                 : fmt::format("{} = {}", name, values[0]);
  }
};

// nullopt when absent, of another type or (an array) of another length than `n_blocks`: llama.cpp
// reports those itself, in an error that names the key.
std::optional<Key> read_key(const gguf_context* g, const std::string& name, uint32_t n_blocks = 0) {
  const int64_t id = gguf_find_key(g, name.c_str());
  if (id < 0) return std::nullopt;
  Key k{name, {}, false};
  const gguf_type t = gguf_get_kv_type(g, id);
  if (t == GGUF_TYPE_UINT32) {
    k.values = {gguf_get_val_u32(g, id)};
    return k;
  }
  if (t != GGUF_TYPE_ARRAY || n_blocks == 0 || gguf_get_arr_n(g, id) != n_blocks) {
    return std::nullopt;
  }
  const gguf_type at = gguf_get_arr_type(g, id);
  if (at != GGUF_TYPE_UINT32 && at != GGUF_TYPE_INT32) return std::nullopt;
  const auto* data = static_cast<const uint32_t*>(gguf_get_arr_data(g, id));
  k.values.assign(data, data + n_blocks);
  k.array = true;
  return k;
}

uint32_t max_value(const Key& k) { return *std::max_element(k.values.begin(), k.values.end()); }

class Checker {
 public:
  Checker(const gguf_context* g, const ModelInfo& info)
      : g_(g), info_(info), a_(info.architecture + ".") {}

  Result<void> run() {
    // llama.cpp reads no hyperparameters of a CLIP projector.
    if (llm_arch_from_string(info_.architecture) == LLM_ARCH_CLIP) return {};
    const auto blocks = read_key(g_, a_ + "block_count");
    if (blocks) {
      if (auto r = check_blocks(*blocks); !r) return r;
    }
    const uint32_t n_blocks = blocks ? blocks->values[0] : 0;
    if (auto k = read_key(g_, a_ + "embedding_length"); k && k->values[0] == 0) {
      return fail(ErrorCode::kCorrupt, k->show(), "the embedding width must be at least 1");
    }
    if (auto k = read_key(g_, a_ + "context_length")) {
      if (k->values[0] == 0) {
        return fail(ErrorCode::kCorrupt, k->show(), "the training context must be at least 1");
      }
      if (k->values[0] > kMaxContext) {
        return fail(ErrorCode::kUnsupported, k->show(),
                    fmt::format("more than the {} tokens clinbench accepts", kMaxContext));
      }
    }
    if (n_blocks > 0) {
      if (auto r = check_heads(n_blocks); !r) return r;
      if (auto r = check_experts(n_blocks); !r) return r;
    }
    if (auto r = check_rope_scaling(); !r) return r;
    return check_token_ids();
  }

 private:
  Result<void> fail(ErrorCode code, const std::string& key_value, const std::string& why) const {
    return make_error(code, fmt::format("{}: {}: {}", info_.path, key_value, why));
  }

  // llama.cpp asserts 0 < block_count <= LLAMA_MAX_LAYERS. A count that disagrees with the
  // blk.N. tensors would fail later with "wrong number of tensors" or a missing tensor.
  Result<void> check_blocks(const Key& k) const {
    const uint32_t n = k.values[0];
    if (n == 0) return fail(ErrorCode::kCorrupt, k.show(), "a model needs at least one block");
    if (n > LLAMA_MAX_LAYERS) {
      return fail(ErrorCode::kUnsupported, k.show(),
                  fmt::format("more than the {} blocks llama.cpp supports", LLAMA_MAX_LAYERS));
    }
    std::set<int> present;
    const TensorInfo* highest = nullptr;
    for (const auto& t : info_.tensors) {
      if (t.layer < 0) continue;
      present.insert(t.layer);
      if (highest == nullptr || t.layer > highest->layer) highest = &t;
    }
    // Files without blk.N. tensors (an encoder-decoder's enc.blk.N.) are llama.cpp's to judge.
    if (highest == nullptr) return {};
    if (static_cast<uint32_t>(highest->layer) >= n) {
      return fail(
          ErrorCode::kCorrupt, k.show(),
          fmt::format("the file has tensors of block {} ({})", highest->layer, highest->name));
    }
    for (uint32_t b = 0; b < n; ++b) {
      if (!present.contains(static_cast<int>(b))) {
        return fail(ErrorCode::kCorrupt, k.show(),
                    fmt::format("block {} has no tensors (the file has tensors of {} blocks)", b,
                                present.size()));
      }
    }
    return {};
  }

  // A block with attention weights needs query and key/value heads, and the key/value heads must
  // divide the query heads: ggml's attention asserts it when the graph is built. Models without
  // attention in some blocks (Mamba, hybrid models) have 0 heads there, which llama.cpp allows.
  Result<void> check_heads(uint32_t n_blocks) const {
    const auto heads = read_key(g_, a_ + "attention.head_count", n_blocks);
    if (!heads) return {};
    const auto kv = read_key(g_, a_ + "attention.head_count_kv", n_blocks).value_or(*heads);
    const auto attention = attention_tensors(n_blocks);
    for (uint32_t b = 0; b < n_blocks; ++b) {
      if (attention[b] == nullptr) continue;
      const std::string has = fmt::format("block {} has attention weights ({})", b, *attention[b]);
      if (heads->at(b) == 0) {
        return fail(ErrorCode::kCorrupt, heads->show(b), has + ", so it needs at least one head");
      }
      if (kv.at(b) == 0) {
        return fail(ErrorCode::kCorrupt, kv.show(b),
                    has + ", so it needs at least one key/value head");
      }
      if (heads->at(b) % kv.at(b) != 0) {
        return fail(ErrorCode::kCorrupt, kv.show(b),
                    fmt::format("does not divide {} (each key/value head serves the same number "
                                "of query heads)",
                                heads->show(b)));
      }
    }
    // Without an explicit head width llama.cpp takes embedding_length / head_count, rounded down.
    const auto embd = read_key(g_, a_ + "embedding_length");
    const bool any_attention =
        std::any_of(attention.begin(), attention.end(), [](auto* t) { return t != nullptr; });
    if (embd && !heads->array && any_attention && heads->values[0] > 0 &&
        gguf_find_key(g_, (a_ + "attention.key_length").c_str()) < 0 &&
        embd->values[0] % heads->values[0] != 0) {
      return fail(ErrorCode::kCorrupt, embd->show(),
                  fmt::format("not a multiple of {}, and no {}attention.key_length gives the "
                              "width of a head",
                              heads->show(), a_));
    }
    return {};
  }

  // Per block, the name of a query or key projection of the block, or null.
  std::vector<const std::string*> attention_tensors(uint32_t n_blocks) const {
    std::vector<const std::string*> out(n_blocks, nullptr);
    for (const auto& t : info_.tensors) {
      if (t.layer < 0 || static_cast<uint32_t>(t.layer) >= n_blocks) continue;
      const std::string prefix = fmt::format("blk.{}.", t.layer);
      for (const char* kind : {"attn_q.", "attn_k.", "attn_qkv."}) {
        if (t.name.compare(0, prefix.size(), prefix) == 0 &&
            t.name.compare(prefix.size(), std::strlen(kind), kind) == 0) {
          out[t.layer] = &t.name;
        }
      }
    }
    return out;
  }

  // llama.cpp's asserts on the experts of a mixture-of-experts model and on the multi-token
  // prediction blocks.
  Result<void> check_experts(uint32_t n_blocks) const {
    if (auto k = read_key(g_, a_ + "nextn_predict_layers"); k && k->values[0] > n_blocks) {
      return fail(ErrorCode::kCorrupt, k->show(),
                  fmt::format("more prediction blocks than the {} blocks", n_blocks));
    }
    const auto count = read_key(g_, a_ + "expert_count");
    const uint32_t n_expert = count ? count->values[0] : 0;
    if (n_expert > LLAMA_MAX_EXPERTS) {
      return fail(ErrorCode::kUnsupported, count->show(),
                  fmt::format("more than the {} experts llama.cpp supports", LLAMA_MAX_EXPERTS));
    }
    // Hunyuan's dense models declare one expert, which llama.cpp reads as none.
    const llm_arch arch = llm_arch_from_string(info_.architecture);
    if ((arch == LLM_ARCH_HUNYUAN_VL || arch == LLM_ARCH_HUNYUAN_DENSE) && n_expert <= 1) return {};
    const std::string experts = count ? count->show() : a_ + "expert_count is absent";
    if (const auto used = read_key(g_, a_ + "expert_used_count", n_blocks)) {
      const uint32_t most = max_value(*used);
      const std::string shown =
          used->array ? fmt::format("{} = {} (its largest)", used->name, most) : used->show();
      if (n_expert == 0 && most > 0) {
        return fail(ErrorCode::kCorrupt, shown, fmt::format("experts used, but {}", experts));
      }
      if (n_expert > 0 && most == 0) {
        return fail(ErrorCode::kCorrupt, shown, fmt::format("no expert used of {}", experts));
      }
      if (most > n_expert) {
        return fail(ErrorCode::kCorrupt, shown,
                    fmt::format("more experts used than there are ({})", experts));
      }
    } else if (n_expert > 0 && gguf_find_key(g_, (a_ + "expert_used_count").c_str()) < 0) {
      return fail(ErrorCode::kCorrupt, count->show(),
                  fmt::format("no {}expert_used_count says how many are used", a_));
    }
    const auto groups = read_key(g_, a_ + "expert_group_count");
    const uint32_t n_groups = groups ? groups->values[0] : 0;
    if (n_groups == 0) return {};
    if (n_expert == 0) {
      return fail(ErrorCode::kCorrupt, groups->show(), "expert groups, but no experts");
    }
    if (n_groups >= n_expert) {
      return fail(ErrorCode::kCorrupt, groups->show(),
                  fmt::format("not fewer groups than experts ({})", experts));
    }
    if (n_groups > 1) {
      if (n_expert % n_groups != 0) {
        return fail(ErrorCode::kCorrupt, groups->show(),
                    fmt::format("does not divide {}", experts));
      }
      const auto used = read_key(g_, a_ + "expert_group_used_count");
      const uint32_t n_used = used ? used->values[0] : 0;
      if (n_used == 0 || n_used >= n_groups) {
        return fail(ErrorCode::kCorrupt,
                    used ? used->show() : a_ + "expert_group_used_count is absent",
                    fmt::format("between 1 and {} groups must be used", n_groups - 1));
      }
    }
    return {};
  }

  // llama.cpp asserts that it knows the scaling type.
  Result<void> check_rope_scaling() const {
    const std::string key = a_ + "rope.scaling.type";
    const int64_t id = gguf_find_key(g_, key.c_str());
    if (id < 0 || gguf_get_kv_type(g_, id) != GGUF_TYPE_STRING) return {};
    const std::string value = gguf_get_val_str(g_, id);
    for (const char* known : {"none", "linear", "yarn", "longrope"}) {
      if (value == known) return {};
    }
    return fail(ErrorCode::kUnsupported, fmt::format("{} = '{}'", key, value),
                "not a scaling type llama.cpp knows (none, linear, yarn, longrope)");
  }

  // llama.cpp replaces a special token outside the vocabulary by its default for the vocabulary
  // type, with a warning: for the tokens that start a prompt or end a generation that default
  // is a different token, so the model would be evaluated wrongly. The other special tokens
  // (padding, separator, unknown, mask, fill-in-the-middle) do not change an evaluation:
  // llama.cpp's handling (disable or replace, with a warning) stands for those.
  Result<void> check_token_ids() const {
    if (info_.n_vocab == 0) return {};
    for (const char* name : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                             "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
      const auto k = read_key(g_, name);
      if (!k || k->values[0] == kNoToken || k->values[0] < info_.n_vocab) continue;
      return fail(ErrorCode::kCorrupt, k->show(),
                  fmt::format("not a token of the vocabulary of {} (tokenizer.ggml.tokens)",
                              info_.n_vocab));
    }
    return {};
  }

  const gguf_context* g_;
  const ModelInfo& info_;
  const std::string a_;  // "<arch>."
};

}  // namespace

Result<void> check_hparams(const gguf_context* g, const ModelInfo& info) {
  return Checker(g, info).run();
}

}  // namespace clinbench
