// --candidate values (parse_candidate): the quantized reference, another file, and LoRA adapters
// on either; malformed values name the flag and the value. No model is loaded.
#include <gtest/gtest.h>

#include "clinbench/fidelity.h"
#include "clinbench/plan.h"

namespace clinbench {
namespace {

const char* kRef = "/models/ref.gguf";

TEST(ParseCandidate, AdaptersFollowTheBase) {
  auto m = parse_candidate("lora=/a/clinical.gguf", kRef);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->label, "lora=/a/clinical.gguf");
  EXPECT_EQ(m->path, kRef);
  EXPECT_EQ(m->strategy, Strategy::kNative);
  ASSERT_EQ(m->adapters.size(), 1u);
  EXPECT_EQ(m->adapters[0].path, "/a/clinical.gguf");
  EXPECT_EQ(m->adapters[0].scale, 1.0f);

  m = parse_candidate("quantize:q4+lora=/a/x.gguf:0.5+lora=/a/y.gguf", kRef);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->path, kRef);
  EXPECT_EQ(m->strategy, Strategy::kQuantizeQ4);
  EXPECT_EQ(m->recipe, kDefaultRecipe);
  ASSERT_EQ(m->adapters.size(), 2u);
  EXPECT_EQ(m->adapters[0].path, "/a/x.gguf");
  EXPECT_EQ(m->adapters[0].scale, 0.5f);
  EXPECT_EQ(m->adapters[1].path, "/a/y.gguf");
  EXPECT_EQ(m->adapters[1].scale, 1.0f);

  // The recipe ends where the adapters start.
  m = parse_candidate("quantize:q8@uniform+lora=x.gguf:0", kRef);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->strategy, Strategy::kQuantizeQ8);
  EXPECT_EQ(m->recipe, "uniform");
  ASSERT_EQ(m->adapters.size(), 1u);
  EXPECT_EQ(m->adapters[0].scale, 0.0f);

  // Another file (a pre-quantized GGUF of the base) with the adapter; a '+' in a path is kept.
  m = parse_candidate("/m/base+v2.Q4_K_M.gguf+lora=x.gguf", kRef);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->path, "/m/base+v2.Q4_K_M.gguf");
  ASSERT_EQ(m->adapters.size(), 1u);

  // Without adapters, as before.
  m = parse_candidate("quantize:q4", kRef);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_TRUE(m->adapters.empty());
  m = parse_candidate("/m/other.gguf", kRef);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->path, "/m/other.gguf");
  EXPECT_TRUE(m->adapters.empty());
}

TEST(ParseCandidate, BadAdaptersAreNamed) {
  struct Case {
    const char* text;
    const char* needle;
  };
  for (const Case& c :
       {Case{"lora=", "names no adapter file"}, Case{"quantize:q4+lora=", "names no adapter file"},
        Case{"quantize:q4+lora=a.gguf+lora=", "names no adapter file"},
        Case{"lora=:0.5", "names no adapter file"},
        Case{"lora=a.gguf:1.5x", "the scale '1.5x' is not a number"},
        Case{"lora=a.gguf:inf", "not finite"},
        Case{"quantize:q4@no-such-recipe+lora=a.gguf", "no-such-recipe"},
        Case{"offload+lora=a.gguf", "only quantize:q8 and quantize:q4"}}) {
    auto m = parse_candidate(c.text, kRef);
    ASSERT_FALSE(m) << c.text;
    EXPECT_NE(m.error().message.find(c.needle), std::string::npos)
        << c.text << ": " << m.error().message;
    EXPECT_NE(m.error().message.find("--candidate"), std::string::npos) << m.error().message;
  }
}

}  // namespace
}  // namespace clinbench
