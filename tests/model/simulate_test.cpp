// The plan simulates a copy of the file without its vocabulary: the bytes must equal those of
// llama.cpp's simulation of the file itself, buffer side by buffer side, for each vocabulary
// kind, weight type, placement and sequence count.
#include "model/simulate.h"

#include <gguf.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>

#include "clinbench/load.h"
#include "model/gguf_file.h"
#include "test_util.h"

namespace clinbench {
namespace {

TEST(SimulateWithoutVocabulary, EqualsTheFileSimulation) {
  const std::vector<std::string> models = {
      testing::stories_model(),                   // SPM vocabulary, f32
      testing::synthetic_model("llama", "q4_0"),  // BPE with merges, a repacked type
      testing::synthetic_model("qwen2", "f16"),
      testing::synthetic_model("gemma2", "q8_0"),  // tied output head, 256k vocabulary
  };
  for (const auto& path : models) {
    auto planning = PlanningFile::create(path);
    ASSERT_TRUE(planning) << planning.error().message;
    EXPECT_FALSE(planning->has_vocabulary()) << path;
    auto copy = open_gguf(planning->path());
    ASSERT_TRUE(copy) << copy.error().message;
    EXPECT_LT(gguf_find_key(copy->gguf.get(), "tokenizer.ggml.tokens"), 0) << path;
    EXPECT_EQ(gguf_string(copy->gguf.get(), "tokenizer.ggml.model"), "no_vocab") << path;
    for (int ngl : {0, -1}) {
      for (uint32_t n_seq : {1u, 4u}) {
        const SimulationShape shape{ngl, 256, 128, n_seq};
        auto stripped = simulate(planning->path(), shape);
        auto file = simulate(path, shape);
        ASSERT_TRUE(stripped) << stripped.error().message;
        ASSERT_TRUE(file) << file.error().message;
        const std::string what =
            path + " ngl " + std::to_string(ngl) + " seq " + std::to_string(n_seq);
        testing::expect_same_bytes(stripped->host, file->host, what + " host");
        testing::expect_same_bytes(stripped->device, file->device, what + " device");
        EXPECT_GT(file->host.weights + file->device.weights, 0u) << what;
      }
    }
  }
}

TEST(SimulateWithoutVocabulary, RepackedWeightsCountAsHostMemory) {
  // q4_0 weights go to the CPU's repacking buffer type, which ggml does not call a host
  // buffer; they are in RAM all the same, and without an accelerator nothing is on a device.
  const std::string path = testing::synthetic_model("llama", "q4_0");
  auto file = simulate(path, {0, 256, 128, 1});
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(file->device.total(), 0u);
  EXPECT_GT(file->host.weights, 0u);
}

TEST(SimulateWithoutVocabulary, WithoutAnInMemoryFileTheFileItselfIsPlanned) {
  // A file-size limit below the copy's size makes its ftruncate fail (EFBIG; SIGXFSZ ignored).
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit tight = old;
  tight.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tight), 0);
  auto planning = PlanningFile::create(testing::stories_model());
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_TRUE(planning) << planning.error().message;
  EXPECT_EQ(planning->path(), testing::stories_model());
  EXPECT_TRUE(planning->has_vocabulary());
  const SimulationShape shape{0, 256, 128, 1};
  auto stand_in = planning->simulate(shape);
  auto file = simulate(testing::stories_model(), shape);
  ASSERT_TRUE(stand_in && file);
  testing::expect_same_bytes(stand_in->host, file->host, "host");
}

TEST(SimulateWithoutVocabulary, KeepsAVocabularyWhoseDeclaredSizeDiffers) {
  // A model that declares a vocabulary size other than its list's: llama.cpp uses one or the
  // other depending on the architecture, so the planning copy keeps the list.
  testing::ScratchDir dir;
  auto file = open_gguf(testing::stories_model());
  ASSERT_TRUE(file);
  gguf_set_val_u32(file->gguf.get(), "llama.vocab_size", 999);
  const std::string path = dir.file("declared.gguf");
  ASSERT_TRUE(gguf_write_to_file(file->gguf.get(), path.c_str(), /*only_meta=*/true));
  const std::string original = testing::read_file(testing::stories_model());
  testing::write_file(path, testing::read_file(path) + original.substr(file->data_offset));
  auto planning = PlanningFile::create(path);
  ASSERT_TRUE(planning) << planning.error().message;
  EXPECT_TRUE(planning->has_vocabulary());
  auto copy = open_gguf(planning->path());
  ASSERT_TRUE(copy) << copy.error().message;
  EXPECT_GE(gguf_find_key(copy->gguf.get(), "tokenizer.ggml.tokens"), 0);
}

}  // namespace
}  // namespace clinbench

namespace clinbench {
namespace {

// The plan against what llama.cpp then allocated, strategy by strategy: weights, KV cache and
// compute buffers on the host (no accelerator in CI).
TEST(SimulateWithoutVocabulary, PlanEqualsWhatEachStrategyAllocated) {
  struct Case {
    std::string path;
    std::vector<std::string> strategies;
  };
  const std::vector<Case> cases = {
      {testing::stories_model(), {"native", "quantize:q8", "quantize:q4", "offload", "cpu"}},
      // Tied output heads: the embedding matrix is held once, also when quantized.
      {testing::synthetic_model("gemma2", "f16"), {"native", "quantize:q8", "quantize:q4"}},
      {testing::synthetic_model("qwen2", "f16"), {"quantize:q8"}},
      {testing::synthetic_model("llama", "q4_0"), {"native"}},
  };
  for (const auto& c : cases) {
    for (const auto& s : c.strategies) {
      LoadOptions o;
      o.strategy = s;
      o.hash = false;
      o.n_ctx = 256;
      o.warmup.enabled = false;
      auto log = run_load_chain(c.path, o);
      ASSERT_TRUE(log) << log.error().message;
      const std::string what = c.path + " " + s;
      ASSERT_TRUE(log->succeeded.has_value()) << what << "\n" << format_attempt_log(*log);
      const Attempt& a = log->attempts[*log->succeeded];
      ASSERT_TRUE(a.allocated_host && a.allocated_device) << what;
      if (a.placement.load_mode == "mmap") {
        // A mapped file counts from its first tensor to its last, so tensors held in another
        // buffer (repacked q4_0 rows) but lying in between count a second time: within 1%.
        EXPECT_GE(a.allocated_host->weights, a.projected_host.weights) << what;
        EXPECT_LE(a.allocated_host->weights, a.projected_host.weights * 101 / 100) << what;
      } else {
        EXPECT_EQ(a.allocated_host->weights, a.projected_host.weights) << what;
      }
      EXPECT_EQ(a.allocated_host->kv, a.projected_host.kv) << what;
      EXPECT_EQ(a.allocated_host->compute, a.projected_host.compute) << what;
      EXPECT_EQ(a.allocated_device->total(), 0u) << what;
    }
  }
}

}  // namespace
}  // namespace clinbench
