// Bad hyperparameters (model/hparams_check.h): each is an error naming the file, the key and the
// value, from read_model_info and from `inspect`, `load` and `run` alike, before llama.cpp sees
// the file, which aborts on some of them. Valid models, with keys llama.cpp tolerates out of
// range, still pass.
#include <ggml.h>
#include <gguf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "clinbench/model_info.h"
#include "test_util.h"

namespace clinbench {
namespace {

using testing::CommandResult;
using testing::ScratchDir;

using Edit = std::function<void(gguf_context*)>;

// stories260K with its key-values edited and, optionally, the tensors named in `replace` swapped
// for zero-filled f32 ones of the shape given (to make a file whose tensors agree with a bad
// hyperparameter, as only then does llama.cpp get far enough to abort on it).
struct Replacement {
  std::string name;
  int64_t ne0, ne1;
};

void write_variant(const std::string& path, const Edit& edit,
                   const std::vector<Replacement>& replace = {}) {
  ggml_context* data = nullptr;
  gguf_init_params p{false, &data};
  gguf_context* src = gguf_init_from_file(testing::stories_model().c_str(), p);
  ASSERT_NE(src, nullptr);
  ggml_init_params ip{64u << 20, nullptr, false};
  ggml_context* fresh = ggml_init(ip);
  gguf_context* out = gguf_init_empty();
  gguf_set_kv(out, src);
  edit(out);
  for (int64_t i = 0; i < gguf_get_n_tensors(src); ++i) {
    const char* name = gguf_get_tensor_name(src, i);
    ggml_tensor* t = ggml_get_tensor(data, name);
    for (const auto& r : replace) {
      if (r.name != name) continue;
      t = ggml_new_tensor_2d(fresh, GGML_TYPE_F32, r.ne0, r.ne1);
      ggml_set_name(t, name);
      std::fill_n(static_cast<float*>(t->data), r.ne0 * r.ne1, 0.0f);
    }
    gguf_add_tensor(out, t);
  }
  ASSERT_TRUE(gguf_write_to_file(out, path.c_str(), false));
  gguf_free(out);
  gguf_free(src);
  ggml_free(fresh);
  ggml_free(data);
}

void set_u32(gguf_context* g, const char* key, uint32_t v) { gguf_set_val_u32(g, key, v); }

struct Case {
  std::string name;
  Edit edit;
  ErrorCode code;
  std::string message;  // what the error says after "PATH: "
};

std::vector<Case> bad_cases() {
  auto u32 = [](const char* key, uint32_t v) {
    return [=](gguf_context* g) { set_u32(g, key, v); };
  };
  const uint32_t kv_per_block[] = {4, 4, 0, 4, 4};
  return {
      {"block_count 0", u32("llama.block_count", 0), ErrorCode::kCorrupt,
       "llama.block_count = 0: a model needs at least one block"},
      {"block_count over LLAMA_MAX_LAYERS", u32("llama.block_count", 513), ErrorCode::kUnsupported,
       "llama.block_count = 513: more than the 512 blocks llama.cpp supports"},
      {"block_count huge", u32("llama.block_count", 4000000000u), ErrorCode::kUnsupported,
       "llama.block_count = 4000000000: more than the 512 blocks llama.cpp supports"},
      {"block_count below the blocks present", u32("llama.block_count", 1), ErrorCode::kCorrupt,
       "llama.block_count = 1: the file has tensors of block 4"},
      {"block_count above the blocks present", u32("llama.block_count", 6), ErrorCode::kCorrupt,
       "llama.block_count = 6: block 5 has no tensors (the file has tensors of 5 blocks)"},
      {"head_count 0", u32("llama.attention.head_count", 0), ErrorCode::kCorrupt,
       "llama.attention.head_count = 0: block 0 has attention weights"},
      {"head_count_kv 0", u32("llama.attention.head_count_kv", 0), ErrorCode::kCorrupt,
       "llama.attention.head_count_kv = 0: block 0 has attention weights"},
      {"head_count_kv not dividing head_count", u32("llama.attention.head_count_kv", 3),
       ErrorCode::kCorrupt,
       "llama.attention.head_count_kv = 3: does not divide llama.attention.head_count = 8"},
      {"head_count_kv 0 in one block",
       [=](gguf_context* g) {
         gguf_set_arr_data(g, "llama.attention.head_count_kv", GGUF_TYPE_UINT32, kv_per_block, 5);
       },
       ErrorCode::kCorrupt, "llama.attention.head_count_kv[2] = 0: block 2 has attention weights"},
      {"head_count not dividing embedding_length",
       [](gguf_context* g) {
         set_u32(g, "llama.attention.head_count", 12);
         set_u32(g, "llama.attention.head_count_kv", 4);
       },
       ErrorCode::kCorrupt,
       "llama.embedding_length = 64: not a multiple of llama.attention.head_count = 12"},
      {"embedding_length 0", u32("llama.embedding_length", 0), ErrorCode::kCorrupt,
       "llama.embedding_length = 0: the embedding width must be at least 1"},
      {"context_length 0", u32("llama.context_length", 0), ErrorCode::kCorrupt,
       "llama.context_length = 0: the training context must be at least 1"},
      {"context_length huge", u32("llama.context_length", 0xffffffffu), ErrorCode::kUnsupported,
       "llama.context_length = 4294967295: more than the 134217728 tokens clinbench accepts"},
      {"bos id at the vocabulary size", u32("tokenizer.ggml.bos_token_id", 512),
       ErrorCode::kCorrupt,
       "tokenizer.ggml.bos_token_id = 512: not a token of the vocabulary of 512"},
      {"eos id past the vocabulary", u32("tokenizer.ggml.eos_token_id", 100000),
       ErrorCode::kCorrupt, "tokenizer.ggml.eos_token_id = 100000: not a token of the vocabulary"},
      {"eot id past the vocabulary", u32("tokenizer.ggml.eot_token_id", 600), ErrorCode::kCorrupt,
       "tokenizer.ggml.eot_token_id = 600: not a token of the vocabulary"},
      {"expert_count over LLAMA_MAX_EXPERTS",
       [](gguf_context* g) {
         set_u32(g, "llama.expert_count", 2000);
         set_u32(g, "llama.expert_used_count", 2);
       },
       ErrorCode::kUnsupported, "llama.expert_count = 2000: more than the 1024 experts"},
      {"more experts used than there are",
       [](gguf_context* g) {
         set_u32(g, "llama.expert_count", 4);
         set_u32(g, "llama.expert_used_count", 8);
       },
       ErrorCode::kCorrupt, "llama.expert_used_count = 8: more experts used than there are"},
      {"experts used without experts", u32("llama.expert_used_count", 2), ErrorCode::kCorrupt,
       "llama.expert_used_count = 2: experts used, but llama.expert_count is absent"},
      {"nextn blocks over block_count", u32("llama.nextn_predict_layers", 6), ErrorCode::kCorrupt,
       "llama.nextn_predict_layers = 6: more prediction blocks than the 5 blocks"},
      {"unknown rope scaling type",
       [](gguf_context* g) { gguf_set_val_str(g, "llama.rope.scaling.type", "cubic"); },
       ErrorCode::kUnsupported, "llama.rope.scaling.type = 'cubic': not a scaling type"},
  };
}

TEST(CorruptGgufHparams, EachBadValueIsAnErrorNamingTheKeyAndValue) {
  ScratchDir dir;
  for (const auto& c : bad_cases()) {
    const std::string path = dir.file("m.gguf");
    write_variant(path, c.edit);
    auto r = read_model_info(path, {.hash = false});
    ASSERT_FALSE(r) << c.name << " was accepted";
    EXPECT_EQ(r.error().code, c.code) << c.name << ": " << r.error().message;
    EXPECT_EQ(r.error().message.rfind(path + ": " + c.message, 0), 0u)
        << c.name << ": " << r.error().message;
  }
}

TEST(CorruptGgufHparams, ValuesLlamaCppToleratesStillPass) {
  ScratchDir dir;
  const uint32_t kv_per_block[] = {4, 4, 4, 4, 4};
  const std::vector<std::pair<std::string, Edit>> good = {
      {"as written", [](gguf_context*) {}},
      // Out of range, or none (-1 as a u32, as stories260K's separator and padding ids are):
      // llama.cpp disables or replaces these with a warning.
      {"padding id past the vocabulary",
       [](gguf_context* g) { set_u32(g, "tokenizer.ggml.padding_token_id", 32000); }},
      {"unknown id past the vocabulary",
       [](gguf_context* g) { set_u32(g, "tokenizer.ggml.unknown_token_id", 600); }},
      {"eos id none", [](gguf_context* g) { set_u32(g, "tokenizer.ggml.eos_token_id", ~0u); }},
      {"head_count_kv per block",
       [&](gguf_context* g) {
         gguf_set_arr_data(g, "llama.attention.head_count_kv", GGUF_TYPE_UINT32, kv_per_block, 5);
       }},
      {"head_count_kv equal to head_count",
       [](gguf_context* g) { set_u32(g, "llama.attention.head_count_kv", 8); }},
      {"long context", [](gguf_context* g) { set_u32(g, "llama.context_length", 10485760); }},
      {"known rope scaling",
       [](gguf_context* g) { gguf_set_val_str(g, "llama.rope.scaling.type", "linear"); }},
  };
  for (const auto& [name, edit] : good) {
    const std::string path = dir.file("m.gguf");
    write_variant(path, edit);
    auto r = read_model_info(path, {.hash = false});
    EXPECT_TRUE(r) << name << ": " << r.error().message;
  }
  // Every preset `clinbench synth` writes (gemma2's heads are wider than embd / heads, given by
  // key_length).
  for (const char* preset :
       {"llama3-8b", "mistral-7b", "qwen2-7b", "gemma2-9b", "llama-300m", "llama-tiny"}) {
    const std::string path = dir.file(std::string(preset) + ".gguf");
    auto w = testing::run_command(
        {testing::clinbench_binary(), "synth", "--preset", preset, "--sparse", "-o", path});
    ASSERT_EQ(w.exit_code, 0) << w.err;
    auto r = read_model_info(path, {.hash = false});
    EXPECT_TRUE(r) << preset << ": " << r.error().message;
    std::filesystem::remove(path);
  }
}

// One line on stderr, "clinbench: " then `message`, exit 3, no signal.
void expect_clear_error(const CommandResult& r, const std::string& what,
                        const std::string& message) {
  EXPECT_EQ(r.signal, 0) << what << " crashed: " << r.err;
  EXPECT_EQ(r.exit_code, 3) << what << ": " << r.err;
  EXPECT_EQ(r.err.find("clinbench: " + message), 0u) << what << ": " << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << what << ": " << r.err;
}

TEST(CorruptGgufHparams, InspectLoadAndRunGiveTheSameClearError) {
  ScratchDir dir;
  const std::string dataset =
      std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/curebench_valset.jsonl";
  const std::vector<std::string> chosen = {"block_count 0",
                                           "block_count huge",
                                           "head_count 0",
                                           "head_count_kv 0",
                                           "head_count_kv not dividing head_count",
                                           "embedding_length 0",
                                           "context_length 0",
                                           "eos id past the vocabulary",
                                           "experts used without experts"};
  const auto cases = bad_cases();
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    if (std::find(chosen.begin(), chosen.end(), c.name) == chosen.end()) continue;
    const std::string path = dir.file("bad.gguf");
    write_variant(path, c.edit);
    const std::string message = path + ": " + c.message;
    expect_clear_error(
        testing::run_command({testing::clinbench_binary(), "inspect", "--no-hash", path}),
        c.name + " inspect", message);
    expect_clear_error(testing::run_command({testing::clinbench_binary(), "load", "--no-hash",
                                             "--ctx", "256", path}),
                       c.name + " load", message);
    // `run` prints its progress on stderr first; its last line is the error, with the model.
    CommandResult r = testing::run_command({testing::clinbench_binary(), "run", "--model", path,
                                            "--dataset", dataset, "--limit", "2", "--out",
                                            dir.file("run-" + std::to_string(i))});
    EXPECT_EQ(r.signal, 0) << c.name << " run crashed: " << r.err;
    EXPECT_EQ(r.exit_code, 3) << c.name << " run: " << r.err;
    EXPECT_NE(r.err.find("\nclinbench: model 'bad': " + message), std::string::npos)
        << c.name << " run: " << r.err;
  }
}

// With tensors that agree with the bad value, llama.cpp itself gets to the value and aborts
// (ggml's attention asserts that the key/value heads divide the query heads). The check stops
// the file first; without it `inspect` ended by SIGABRT.
TEST(CorruptGgufHparams, KeyValueHeadsThatDoNotDivideNeverReachLlamaCpp) {
  ScratchDir dir;
  const std::string path = dir.file("kv3.gguf");
  std::vector<Replacement> replace;
  for (int b = 0; b < 5; ++b) {
    for (const char* w : {"attn_k", "attn_v"}) {
      replace.push_back({"blk." + std::to_string(b) + "." + w + ".weight", 64, 24});  // 3 x 8
    }
  }
  write_variant(
      path, [](gguf_context* g) { set_u32(g, "llama.attention.head_count_kv", 3); }, replace);
  const std::string message =
      path + ": llama.attention.head_count_kv = 3: does not divide llama.attention.head_count = 8";
  expect_clear_error(
      testing::run_command({testing::clinbench_binary(), "inspect", "--no-hash", path}), "inspect",
      message);
  expect_clear_error(testing::run_command(
                         {testing::clinbench_binary(), "load", "--no-hash", "--ctx", "256", path}),
                     "load", message);
}

}  // namespace
}  // namespace clinbench
