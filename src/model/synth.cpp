#include "clinbench/synth.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <ggml.h>
#include <gguf.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <thread>

#include "model/gguf_file.h"
#include "util/atomic_file.h"

namespace clinbench {

namespace {

constexpr const char* kLlama3Template =
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}";
constexpr const char* kChatmlTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";
// Gemma 2's own template: it rejects a system role, as the real one does.
constexpr const char* kGemmaTemplate =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role "
    "not supported') }}{% endif %}{% for message in messages %}{% if message['role'] == "
    "'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif "
    "%}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";
// Mistral-7B-Instruct's: user and assistant turns only.
constexpr const char* kMistralTemplate =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token }}{% endif %}{% endfor %}";

struct ArchDesc {
  const char* name;       // --arch
  const char* gguf_arch;  // general.architecture
  const char* vocab;
  const char* chat_template;
  float rope_base;
  float rms_eps;
  bool qkv_bias;
  bool post_norms;   // gemma2
  bool tied_output;  // no output.weight
};

const ArchDesc kArchs[] = {
    {"llama", "llama", "llama-bpe", kLlama3Template, 500000.0f, 1e-5f, false, false, false},
    {"mistral", "llama", "llama-spm", kMistralTemplate, 1000000.0f, 1e-5f, false, false, false},
    {"qwen2", "qwen2", "qwen2", kChatmlTemplate, 1000000.0f, 1e-6f, true, false, false},
    {"gemma2", "gemma2", "gemma-4", kGemmaTemplate, 10000.0f, 1e-6f, false, true, true},
};

const ArchDesc* find_arch(const std::string& name) {
  for (const auto& a : kArchs) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

std::string vocab_path(const std::string& vocab) {
  if (vocab.find('/') != std::string::npos || vocab.ends_with(".gguf")) return vocab;
  return fmt::format("{}/models/ggml-vocab-{}.gguf", CLINBENCH_LLAMA_SRC, vocab);
}

// xoshiro128+ : fast, good enough for synthetic weights, deterministic per tensor.
struct Rng {
  uint32_t s[4];
  explicit Rng(uint64_t seed) {
    uint64_t z = seed;
    for (auto& v : s) {
      z += 0x9e3779b97f4a7c15ull;
      uint64_t x = z;
      x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
      x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
      v = static_cast<uint32_t>(x ^ (x >> 31));
    }
  }
  static uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
  uint32_t next() {
    const uint32_t result = s[0] + s[3];
    const uint32_t t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }
  float uniform() { return static_cast<float>(next() >> 8) * (1.0f / 16777216.0f); }
};

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

struct TensorPlan {
  std::string name;
  std::vector<int64_t> ne;
  ggml_type type;
  float fill;  // NaN: random; else a constant (norms 1, biases 0)
};

// The weight matrices' type, from --type.
Result<ggml_type> weight_type(const std::string& type) {
  if (type == "f32") return GGML_TYPE_F32;
  if (type == "f16") return GGML_TYPE_F16;
  if (type == "q8_0") return GGML_TYPE_Q8_0;
  if (type == "q4_0") return GGML_TYPE_Q4_0;
  if (type == "q4_K") return GGML_TYPE_Q4_K;
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("--type: unknown type '{}' (expected f32, f16, q8_0, q4_0 or "
                                "q4_K)",
                                type));
}

// The head dimension of the shape, or an error naming the flags that do not fit together.
Result<uint32_t> check_shape(const SynthShape& sh) {
  if (sh.n_layer == 0 || sh.n_embd == 0 || sh.n_ff == 0 || sh.n_head == 0 || sh.n_head_kv == 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--layers, --embd, --ff, --heads and --kv-heads must be positive");
  }
  if (sh.n_head % sh.n_head_kv != 0) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("--heads {} is not a multiple of --kv-heads {}", sh.n_head, sh.n_head_kv));
  }
  const uint32_t head_dim = sh.arch == "gemma2" && sh.n_embd == 3584 ? 256 : sh.n_embd / sh.n_head;
  if (sh.arch != "gemma2" && sh.n_embd % sh.n_head != 0) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("--embd {} is not a multiple of --heads {}", sh.n_embd, sh.n_head));
  }
  if (head_dim % 2 != 0) {
    return make_error(ErrorCode::kInvalidArgument, "head dimension (embd/heads) must be even");
  }
  return head_dim;
}

struct Vocab {
  GgufFile file;
  uint32_t n_vocab = 0;
};

// A real llama.cpp vocabulary file, whose tokenizer.* keys the model gets.
Result<Vocab> open_vocab(const std::string& vpath) {
  auto vocab = open_gguf(vpath);
  if (!vocab) return std::unexpected(vocab.error().with_context("vocabulary"));
  const int64_t tok_id = gguf_find_key(vocab->gguf.get(), "tokenizer.ggml.tokens");
  if (tok_id < 0) {
    return make_error(ErrorCode::kCorrupt, fmt::format("{}: no tokenizer.ggml.tokens", vpath));
  }
  const auto n_vocab = static_cast<uint32_t>(gguf_get_arr_n(vocab->gguf.get(), tok_id));
  return Vocab{std::move(*vocab), n_vocab};
}

// general.* and the architecture's hyperparameters.
void set_model_keys(gguf_context* g, const SynthOptions& o, const ArchDesc& arch, ggml_type wtype,
                    uint32_t head_dim, uint32_t n_vocab) {
  const SynthShape& sh = o.shape;
  gguf_set_val_str(g, "general.architecture", arch.gguf_arch);
  const std::string name =
      o.name.empty() ? fmt::format("synthetic-{}-{}L-{}", sh.arch, sh.n_layer, sh.n_embd) : o.name;
  gguf_set_val_str(g, "general.name", name.c_str());
  gguf_set_val_str(g, "general.description",
                   "synthetic model written by clinbench synth: random weights, real vocabulary");
  gguf_set_val_u32(g, "general.file_type",
                   wtype == GGML_TYPE_F32    ? 0
                   : wtype == GGML_TYPE_F16  ? 1
                   : wtype == GGML_TYPE_Q8_0 ? 7
                   : wtype == GGML_TYPE_Q4_0 ? 2
                                             : 15);
  const std::string a = std::string(arch.gguf_arch) + ".";
  auto u32 = [&](const std::string& k, uint32_t v) { gguf_set_val_u32(g, (a + k).c_str(), v); };
  auto f32 = [&](const std::string& k, float v) { gguf_set_val_f32(g, (a + k).c_str(), v); };
  u32("context_length", sh.n_ctx);
  u32("embedding_length", sh.n_embd);
  u32("block_count", sh.n_layer);
  u32("feed_forward_length", sh.n_ff);
  u32("attention.head_count", sh.n_head);
  u32("attention.head_count_kv", sh.n_head_kv);
  u32("rope.dimension_count", head_dim);
  u32("vocab_size", n_vocab);
  f32("rope.freq_base", arch.rope_base);
  f32("attention.layer_norm_rms_epsilon", arch.rms_eps);
  if (sh.arch == "gemma2") {
    u32("attention.key_length", head_dim);
    u32("attention.value_length", head_dim);
    u32("attention.sliding_window", 4096);
    f32("attn_logit_softcapping", 50.0f);
    f32("final_logit_softcapping", 30.0f);
  }
}

// Key-value i of vg, copied into g under the same key (types a vocabulary has; others skipped).
void copy_kv(gguf_context* g, const gguf_context* vg, int64_t i, const std::string& key) {
  switch (gguf_get_kv_type(vg, i)) {
    case GGUF_TYPE_STRING:
      gguf_set_val_str(g, key.c_str(), gguf_get_val_str(vg, i));
      break;
    case GGUF_TYPE_UINT32:
      gguf_set_val_u32(g, key.c_str(), gguf_get_val_u32(vg, i));
      break;
    case GGUF_TYPE_INT32:
      gguf_set_val_i32(g, key.c_str(), gguf_get_val_i32(vg, i));
      break;
    case GGUF_TYPE_BOOL:
      gguf_set_val_bool(g, key.c_str(), gguf_get_val_bool(vg, i));
      break;
    case GGUF_TYPE_FLOAT32:
      gguf_set_val_f32(g, key.c_str(), gguf_get_val_f32(vg, i));
      break;
    case GGUF_TYPE_ARRAY: {
      const gguf_type at = gguf_get_arr_type(vg, i);
      const size_t n = gguf_get_arr_n(vg, i);
      if (at == GGUF_TYPE_STRING) {
        std::vector<const char*> strs(n);
        for (size_t k = 0; k < n; ++k) strs[k] = gguf_get_arr_str(vg, i, k);
        gguf_set_arr_str(g, key.c_str(), strs.data(), n);
      } else {
        gguf_set_arr_data(g, key.c_str(), at, gguf_get_arr_data(vg, i), n);
      }
      break;
    }
    default:
      break;
  }
}

// The vocabulary's tokenizer.* keys, with the architecture's chat template instead of its own.
void copy_tokenizer(gguf_context* g, const gguf_context* vg, const char* chat_template) {
  const int64_t n_kv = gguf_get_n_kv(vg);
  for (int64_t i = 0; i < n_kv; ++i) {
    const std::string key = gguf_get_key(vg, i);
    if (key.rfind("tokenizer.", 0) != 0 || key == "tokenizer.chat_template") continue;
    // gguf_set_kv copies all keys; copy one by one through a temporary context instead.
    copy_kv(g, vg, i, key);
  }
  gguf_set_val_str(g, "tokenizer.chat_template", chat_template);
}

// The tensors, in llama.cpp's names and shapes; an error when a row is not whole blocks of its
// type.
Result<std::vector<TensorPlan>> plan_tensors(const SynthShape& sh, const ArchDesc& arch,
                                             ggml_type wtype, uint32_t head_dim, uint32_t n_vocab) {
  std::vector<TensorPlan> plan;
  const float kRandom = std::nanf("");
  const int64_t E = sh.n_embd, F = sh.n_ff, V = n_vocab;
  const int64_t Q = static_cast<int64_t>(sh.n_head) * head_dim;
  const int64_t KV = static_cast<int64_t>(sh.n_head_kv) * head_dim;
  plan.push_back({"token_embd.weight", {E, V}, wtype, kRandom});
  for (uint32_t l = 0; l < sh.n_layer; ++l) {
    const std::string p = fmt::format("blk.{}.", l);
    plan.push_back({p + "attn_norm.weight", {E}, GGML_TYPE_F32, 1.0f});
    plan.push_back({p + "attn_q.weight", {E, Q}, wtype, kRandom});
    plan.push_back({p + "attn_k.weight", {E, KV}, wtype, kRandom});
    plan.push_back({p + "attn_v.weight", {E, KV}, wtype, kRandom});
    if (arch.qkv_bias) {
      plan.push_back({p + "attn_q.bias", {Q}, GGML_TYPE_F32, 0.0f});
      plan.push_back({p + "attn_k.bias", {KV}, GGML_TYPE_F32, 0.0f});
      plan.push_back({p + "attn_v.bias", {KV}, GGML_TYPE_F32, 0.0f});
    }
    plan.push_back({p + "attn_output.weight", {Q, E}, wtype, kRandom});
    if (arch.post_norms)
      plan.push_back({p + "post_attention_norm.weight", {E}, GGML_TYPE_F32, 1.0f});
    plan.push_back({p + "ffn_norm.weight", {E}, GGML_TYPE_F32, 1.0f});
    plan.push_back({p + "ffn_gate.weight", {E, F}, wtype, kRandom});
    plan.push_back({p + "ffn_up.weight", {E, F}, wtype, kRandom});
    plan.push_back({p + "ffn_down.weight", {F, E}, wtype, kRandom});
    if (arch.post_norms) plan.push_back({p + "post_ffw_norm.weight", {E}, GGML_TYPE_F32, 1.0f});
  }
  plan.push_back({"output_norm.weight", {E}, GGML_TYPE_F32, 1.0f});
  if (!arch.tied_output) plan.push_back({"output.weight", {E, V}, wtype, kRandom});
  for (auto& t : plan) {
    if (t.ne[0] % ggml_blck_size(t.type) != 0) {
      return make_error(
          ErrorCode::kInvalidArgument,
          fmt::format("tensor {} has rows of {} values, not a multiple of {}'s "
                      "block size {}: choose another --type or shape",
                      t.name, t.ne[0], ggml_type_name(t.type), ggml_blck_size(t.type)));
    }
  }
  return plan;
}

// Adds the planned tensors to g (their shapes made in meta); returns the number of parameters.
uint64_t add_tensors(gguf_context* g, ggml_context* meta, const std::vector<TensorPlan>& plan) {
  uint64_t n_params = 0;
  for (const auto& t : plan) {
    ggml_tensor* tensor = t.ne.size() == 1 ? ggml_new_tensor_1d(meta, t.type, t.ne[0])
                                           : ggml_new_tensor_2d(meta, t.type, t.ne[0], t.ne[1]);
    ggml_set_name(tensor, t.name.c_str());
    gguf_add_tensor(g, tensor);
    n_params += static_cast<uint64_t>(ggml_nelements(tensor));
  }
  return n_params;
}

struct DataLayout {
  uint64_t offset = 0;  // of the tensor data
  uint64_t end = 0;     // the file's size
};

// Writes the metadata and sizes the file for every tensor's data.
Result<DataLayout> write_header(AtomicFile& file, const gguf_context* g) {
  std::string header(gguf_get_meta_size(g), '\0');
  gguf_get_meta_data(g, header.data());
  if (auto w = file.write_at(0, header); !w) return std::unexpected(w.error());
  const size_t align = gguf_get_alignment(g);
  DataLayout layout;
  layout.offset = (header.size() + align - 1) / align * align;
  layout.end = layout.offset;
  for (int64_t i = 0; i < gguf_get_n_tensors(g); ++i) {
    layout.end = std::max<uint64_t>(
        layout.end, layout.offset + gguf_get_tensor_offset(g, i) + gguf_get_tensor_size(g, i));
  }
  layout.end = (layout.end + align - 1) / align * align;
  // The tensor data starts as a hole: a sparse file stays one, and a full one is filled in below.
  if (auto r = file.resize(layout.end); !r) return std::unexpected(r.error());
  return layout;
}

// Rows [r0, r0 + nr) of tensor t into out, in t's type, split across n_threads threads.
void fill_rows(const TensorPlan& t, uint64_t seed, float stddev, int64_t r0, int64_t nr,
               unsigned n_threads, std::vector<float>& f32buf, std::vector<char>& out) {
  const int64_t ncols = t.ne[0];
  const size_t row_bytes = ggml_row_size(t.type, ncols);
  // Random weights ~ U(-a, a) with standard deviation `stddev` (0.02, as initialisers use).
  const float scale = stddev * std::sqrt(3.0f);
  f32buf.resize(static_cast<size_t>(nr * ncols));
  out.resize(static_cast<size_t>(nr) * row_bytes);
  auto fill = [&](unsigned th) {
    const int64_t a0 = nr * th / n_threads, a1 = nr * (th + 1) / n_threads;
    for (int64_t r = a0; r < a1; ++r) {
      Rng rng(seed ^ name_hash(t.name) ^ (static_cast<uint64_t>(r0 + r) * 0x9e3779b9ull));
      float* row = f32buf.data() + r * ncols;
      for (int64_t c = 0; c < ncols; ++c) {
        row[c] = std::isnan(t.fill) ? (rng.uniform() * 2.0f - 1.0f) * scale : t.fill;
      }
      char* dst = out.data() + static_cast<size_t>(r) * row_bytes;
      if (t.type == GGML_TYPE_F32) {
        std::memcpy(dst, row, row_bytes);
      } else if (t.type == GGML_TYPE_F16) {
        ggml_fp32_to_fp16_row(row, reinterpret_cast<ggml_fp16_t*>(dst), ncols);
      } else {
        ggml_quantize_chunk(t.type, row, dst, 0, 1, ncols, nullptr);
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned th = 1; th < n_threads; ++th) pool.emplace_back(fill, th);
  fill(0);
  for (auto& th : pool) th.join();
}

// Every tensor's values, written in chunks of about 8 MiB of floats.
Result<void> write_weights(AtomicFile& file, const gguf_context* g,
                           const std::vector<TensorPlan>& plan, uint64_t data_offset, uint64_t seed,
                           float stddev = 0.02f) {
  const unsigned n_threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<float> f32buf;
  std::vector<char> out;
  for (size_t ti = 0; ti < plan.size(); ++ti) {
    const TensorPlan& t = plan[ti];
    const int64_t ncols = t.ne[0];
    const int64_t nrows = t.ne.size() > 1 ? t.ne[1] : 1;
    const size_t row_bytes = ggml_row_size(t.type, ncols);
    const uint64_t off = data_offset + gguf_get_tensor_offset(g, static_cast<int64_t>(ti));
    const int64_t rows_per_chunk = std::max<int64_t>(1, (8 << 20) / (ncols * 4));
    ggml_quantize_init(t.type);
    for (int64_t r0 = 0; r0 < nrows; r0 += rows_per_chunk) {
      const int64_t nr = std::min(rows_per_chunk, nrows - r0);
      fill_rows(t, seed, stddev, r0, nr, n_threads, f32buf, out);
      if (auto w = file.write_at(off + static_cast<uint64_t>(r0) * row_bytes,
                                 std::string_view(out.data(), out.size()));
          !w) {
        return std::unexpected(w.error());
      }
    }
  }
  return {};
}

}  // namespace

const std::vector<SynthPreset>& synth_presets() {
  static const std::vector<SynthPreset> presets = {
      {"llama3-8b",
       "shaped like Llama-3-8B (32 blocks, 4096 wide, GQA 32/8, 128k BPE vocab)",
       {"llama", 32, 4096, 14336, 32, 8, 8192, "llama-bpe"}},
      {"mistral-7b",
       "shaped like Mistral-7B (32 blocks, 4096 wide, GQA 32/8, 32k SPM vocab)",
       {"mistral", 32, 4096, 14336, 32, 8, 32768, "llama-spm"}},
      {"qwen2-7b",
       "shaped like Qwen2-7B (28 blocks, 3584 wide, GQA 28/4, QKV bias, 152k vocab)",
       {"qwen2", 28, 3584, 18944, 28, 4, 32768, "qwen2"}},
      {"gemma2-9b",
       "shaped like Gemma-2-9B (42 blocks, 3584 wide, 16 heads of 256, post-norms, tied output, "
       "262k SPM vocab of Gemma 4 as the nearest shipped)",
       {"gemma2", 42, 3584, 14336, 16, 8, 8192, "gemma-4"}},
      {"llama-300m",
       "a ~300M-parameter llama (16 blocks, 1024 wide, 32k SPM vocab)",
       {"llama", 16, 1024, 4096, 16, 8, 4096, "llama-spm"}},
      {"llama-tiny",
       "a few-MB llama for tests (2 blocks, 64 wide, 32k SPM vocab)",
       {"llama", 2, 64, 128, 4, 2, 2048, "llama-spm"}},
  };
  return presets;
}

std::string default_vocab_for(const std::string& arch) {
  const ArchDesc* a = find_arch(arch);
  return a ? a->vocab : "";
}

Result<SynthResult> write_synthetic_model(const SynthOptions& o, const std::string& path) {
  const SynthShape& sh = o.shape;
  const ArchDesc* arch = find_arch(sh.arch);
  if (arch == nullptr) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--arch: unknown architecture '{}' (expected llama, qwen2, "
                                  "gemma2 or mistral)",
                                  sh.arch));
  }
  auto wtype = weight_type(o.type);
  if (!wtype) return std::unexpected(wtype.error());
  auto head_dim = check_shape(sh);
  if (!head_dim) return std::unexpected(head_dim.error());
  auto vocab = open_vocab(vocab_path(sh.vocab.empty() ? arch->vocab : sh.vocab));
  if (!vocab) return std::unexpected(vocab.error());

  std::unique_ptr<gguf_context, GgufDeleter> g(gguf_init_empty());
  set_model_keys(g.get(), o, *arch, *wtype, *head_dim, vocab->n_vocab);
  copy_tokenizer(g.get(), vocab->file.gguf.get(),
                 o.chat_template.empty() ? arch->chat_template : o.chat_template.c_str());
  auto plan = plan_tensors(sh, *arch, *wtype, *head_dim, vocab->n_vocab);
  if (!plan) return std::unexpected(plan.error());
  const size_t meta_ctx_size = ggml_tensor_overhead() * (plan->size() + 1);
  ggml_init_params ip{meta_ctx_size, nullptr, true};
  std::unique_ptr<ggml_context, GgmlCtxDeleter> meta(ggml_init(ip));
  SynthResult result;
  result.n_params = add_tensors(g.get(), meta.get(), *plan);

  // Written beside the target and renamed over it when complete: an interrupted synth (minutes
  // for a 8B model) leaves no truncated GGUF behind.
  auto file = AtomicFile::create(path);
  if (!file) return std::unexpected(file.error());
  auto layout = write_header(*file, g.get());
  if (!layout) return std::unexpected(layout.error());
  if (!o.sparse) {
    if (auto w = write_weights(*file, g.get(), *plan, layout->offset, o.seed); !w) {
      return std::unexpected(w.error());
    }
  }
  if (auto c = file->commit(); !c) return std::unexpected(c.error());
  result.file_bytes = layout->end;
  return result;
}

Result<SynthResult> write_synthetic_lora(const LoraSynthOptions& o, const std::string& path) {
  if (o.rank == 0) {
    return make_error(ErrorCode::kInvalidArgument, "--rank must be positive");
  }
  if (!std::isfinite(o.scale_init) || o.scale_init < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--scale-init {} must be a finite number >= 0", o.scale_init));
  }
  const float alpha = o.alpha.value_or(static_cast<float>(o.rank));
  if (!std::isfinite(alpha)) {
    return make_error(ErrorCode::kInvalidArgument, "--alpha must be finite");
  }
  ggml_type type = GGML_TYPE_F32;
  if (o.type == "f16") {
    type = GGML_TYPE_F16;
  } else if (o.type != "f32") {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--type: '{}' is no adapter type (expected f32 or f16)", o.type));
  }
  auto base = open_gguf(o.base);
  if (!base) return std::unexpected(base.error().with_context("--lora-for"));
  const gguf_context* bg = base->gguf.get();
  if (gguf_string(bg, "general.type") == "adapter") {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--lora-for: {} is an adapter, not a base model", o.base));
  }
  const std::string arch = gguf_string(bg, "general.architecture");
  if (arch.empty()) {
    return make_error(ErrorCode::kCorrupt,
                      fmt::format("--lora-for: {}: no general.architecture", o.base));
  }
  const std::vector<std::string> targets =
      o.targets.empty() ? std::vector<std::string>{"attn_q",   "attn_k", "attn_v",  "attn_output",
                                                   "ffn_gate", "ffn_up", "ffn_down"}
                        : o.targets;
  // For each base matrix W = [n_in, n_out] the converter's pair: lora_a [n_in, r] and lora_b
  // [r, n_out]. PEFT starts lora_b at zero; a trained adapter has both halves non-zero.
  const float kRandom = std::nanf("");
  std::vector<TensorPlan> plan;
  for (int64_t i = 0; i < gguf_get_n_tensors(bg); ++i) {
    const std::string name = gguf_get_tensor_name(bg, i);
    const ggml_tensor* t = ggml_get_tensor(base->meta.get(), name.c_str());
    if (ggml_n_dims(t) != 2 || !name.ends_with(".weight")) continue;
    const std::string stem = name.substr(0, name.size() - 7);
    const std::string last = stem.substr(stem.rfind('.') + 1);
    bool wanted = false;
    for (const auto& target : targets) wanted = wanted || target == last || target == name;
    if (!wanted) continue;
    const int64_t r = o.rank;
    plan.push_back({name + ".lora_a", {t->ne[0], r}, type, kRandom});
    plan.push_back({name + ".lora_b", {r, t->ne[1]}, type, o.zero ? 0.0f : kRandom});
  }
  if (plan.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("--lora-for: {} has no 2-D weight named by the targets ({})",
                                  o.base, fmt::join(targets, ", ")));
  }
  std::unique_ptr<gguf_context, GgufDeleter> g(gguf_init_empty());
  gguf_set_val_str(g.get(), "general.architecture", arch.c_str());
  gguf_set_val_str(g.get(), "general.type", "adapter");
  const std::string base_name = gguf_string(bg, "general.name");
  const std::string name =
      fmt::format("synthetic LoRA r{} for {}", o.rank, base_name.empty() ? arch : base_name);
  gguf_set_val_str(g.get(), "general.name", name.c_str());
  gguf_set_val_str(g.get(), "adapter.type", "lora");
  gguf_set_val_f32(g.get(), "adapter.lora.alpha", alpha);
  const size_t meta_ctx_size = ggml_tensor_overhead() * (plan.size() + 1);
  ggml_init_params ip{meta_ctx_size, nullptr, true};
  std::unique_ptr<ggml_context, GgmlCtxDeleter> meta(ggml_init(ip));
  SynthResult result;
  result.n_params = add_tensors(g.get(), meta.get(), plan);
  auto file = AtomicFile::create(path);
  if (!file) return std::unexpected(file.error());
  auto layout = write_header(*file, g.get());
  if (!layout) return std::unexpected(layout.error());
  if (auto w = write_weights(*file, g.get(), plan, layout->offset, o.seed, o.scale_init); !w) {
    return std::unexpected(w.error());
  }
  if (auto c = file->commit(); !c) return std::unexpected(c.error());
  result.file_bytes = layout->end;
  return result;
}

}  // namespace clinbench
