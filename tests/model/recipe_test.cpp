#include <gtest/gtest.h>

#include "clinbench/model_info.h"
#include "clinbench/strategy.h"
#include "test_util.h"

namespace clinbench {
namespace {

TEST(Recipe, BuiltinsResolveAndFilesParse) {
  EXPECT_TRUE(resolve_recipe("mixed"));
  EXPECT_TRUE(resolve_recipe("uniform"));
  testing::ScratchDir dir;
  testing::write_file(dir.file("r.txt"),
                      "# keep the head precise\noutput\\.weight q8_0\n"
                      "blk\\.\\d+\\.ffn_down\\.weight high layers=edges\n.* low\n");
  auto r = resolve_recipe(dir.file("r.txt"));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->rules.size(), 3u);
  EXPECT_TRUE(r->rules[1].edge_layers_only);
}

TEST(Recipe, BadRecipeFilesNameFileAndLine) {
  testing::ScratchDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {".* low\noutput\\.weight\n", ":2: expected"},
      {".* q9_9\n", ":1: unknown tensor type 'q9_9'"},
      {"([ low\n", ":1: invalid pattern"},
      {".* low layers=odd\n", ":1: unknown option 'layers=odd'"},
      {"# nothing\n", "no rules"},
  };
  for (const auto& [text, needle] : cases) {
    testing::write_file(dir.file("r.txt"), text);
    auto r = resolve_recipe(dir.file("r.txt"));
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  }
  auto missing = resolve_recipe("no-such-recipe");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("mixed"), std::string::npos);
}

TEST(Recipe, MixedKeepsSensitiveTensorsHigher) {
  ModelInfo m;
  m.n_layer = 8;
  auto add = [&](const std::string& name, int layer, int64_t ne0, int64_t ne1) {
    TensorInfo t;
    t.name = name;
    t.type = "f16";
    t.ne = {ne0, ne1, 1, 1};
    t.layer = layer;
    t.bytes = static_cast<uint64_t>(ne0 * ne1 * 2);
    m.tensors.push_back(t);
  };
  add("token_embd.weight", -1, 512, 1000);
  add("output.weight", -1, 512, 1000);
  add("output_norm.weight", -1, 512, 1);
  for (int l = 0; l < 8; ++l) {
    add("blk." + std::to_string(l) + ".attn_v.weight", l, 512, 256);
    add("blk." + std::to_string(l) + ".attn_q.weight", l, 512, 512);
  }
  auto mixed = apply_recipe(*resolve_recipe("mixed"), Strategy::kQuantizeQ4, m);
  ASSERT_TRUE(mixed);
  auto type_of = [&](const std::vector<TensorChoice>& c, const std::string& name) {
    for (const auto& x : c) {
      if (x.name == name) return x.type;
    }
    return std::string();
  };
  EXPECT_EQ(type_of(*mixed, "token_embd.weight"), "q6_K");
  EXPECT_EQ(type_of(*mixed, "output.weight"), "q6_K");
  EXPECT_EQ(type_of(*mixed, "output_norm.weight"), "f16");    // 1-D: as stored
  EXPECT_EQ(type_of(*mixed, "blk.0.attn_v.weight"), "q6_K");  // first eighth
  EXPECT_EQ(type_of(*mixed, "blk.1.attn_v.weight"), "q4_K");
  EXPECT_EQ(type_of(*mixed, "blk.7.attn_v.weight"), "q6_K");  // last eighth
  EXPECT_EQ(type_of(*mixed, "blk.3.attn_q.weight"), "q4_K");
  auto uniform = apply_recipe(*resolve_recipe("uniform"), Strategy::kQuantizeQ4, m);
  ASSERT_TRUE(uniform);
  EXPECT_EQ(type_of(*uniform, "output.weight"), "q4_K");
  uint64_t mixed_bytes = 0, uniform_bytes = 0;
  for (const auto& c : *mixed) mixed_bytes += c.bytes;
  for (const auto& c : *uniform) uniform_bytes += c.bytes;
  EXPECT_GT(mixed_bytes, uniform_bytes);
  auto q8 = apply_recipe(*resolve_recipe("uniform"), Strategy::kQuantizeQ8, m);
  EXPECT_EQ(type_of(*q8, "blk.3.attn_q.weight"), "q8_0");
}

}  // namespace
}  // namespace clinbench
