// LoRA adapters in the run config ([[models]] adapters = [...]) and on the command line (--lora):
// paths relative to the config file, scales, and every bad input named with its key and model.
#include <gtest/gtest.h>

#include <string>

#include "clinbench/config.h"

namespace clinbench {
namespace {

const std::string kDataset = "[[datasets]]\npath = \"d.jsonl\"\n";

#define EXPECT_HAS(haystack, needle)                                                            \
  EXPECT_NE((haystack).find(needle), std::string::npos) << "missing '" << (needle) << "' in:\n" \
                                                        << (haystack)

std::string error_of(const std::string& text) {
  auto r = parse_run_config(text, "conf/run.toml");
  EXPECT_FALSE(r) << text;
  if (r) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << r.error().message;
  return r.error().message;
}

TEST(ConfigAdapters, BaseAndBasePlusAdaptersInOneRun) {
  auto r = parse_run_config(R"(
[[models]]
name = "base"
path = "m.gguf"

[[models]]
name = "tuned"
path = "m.gguf"
adapters = [{ path = "lora/a.gguf", scale = 0.5 }, { path = "/abs/b.gguf" }, { path = "c.gguf", scale = -2 }]
)" + kDataset,
                            "conf/run.toml");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->models.size(), 2u);
  EXPECT_TRUE(r->models[0].adapters.empty());
  const auto& a = r->models[1].adapters;
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].path, "conf/lora/a.gguf");  // relative to the config file, as `path` is
  EXPECT_EQ(a[0].scale, 0.5f);
  EXPECT_EQ(a[1].path, "/abs/b.gguf");
  EXPECT_EQ(a[1].scale, 1.0f);
  EXPECT_EQ(a[2].scale, -2.0f);  // an integer scale is a number too
  EXPECT_EQ(r->models[1].path, "conf/m.gguf");
  // The recorded config holds them; a model without adapters has no key.
  const auto j = to_json(*r);
  EXPECT_FALSE(j["models"][0].contains("adapters"));
  ASSERT_EQ(j["models"][1]["adapters"].size(), 3u);
  EXPECT_EQ(j["models"][1]["adapters"][0]["path"], "conf/lora/a.gguf");
  EXPECT_EQ(j["models"][1]["adapters"][0]["scale"], 0.5);
}

TEST(ConfigAdapters, EachBadInputNamesTheKeyAndTheModel) {
  const std::string head = "[[models]]\npath = \"m.gguf\"\n";
  auto e = error_of(head + "[[models]]\npath = \"n.gguf\"\nadapters = \"a.gguf\"\n" + kDataset);
  EXPECT_HAS(e, "conf/run.toml:5: models[1].adapters: expected an array of tables");
  e = error_of(head + "adapters = [\"a.gguf\"]\n" + kDataset);
  EXPECT_HAS(e, "models[0].adapters[0]: expected a table");
  EXPECT_HAS(e, "got a string");
  e = error_of(head + "adapters = [{ scale = 1.0 }]\n" + kDataset);
  EXPECT_HAS(e, "models[0].adapters[0].path: missing (the adapter GGUF)");
  e = error_of(head + "adapters = [{ path = \"\" }]\n" + kDataset);
  EXPECT_HAS(e, "models[0].adapters[0].path: is empty");
  e = error_of(head + "adapters = [{ path = 3 }]\n" + kDataset);
  EXPECT_HAS(e, "models[0].adapters[0].path: expected a string, got an integer");
  e = error_of(head + "adapters = [{ path = \"a.gguf\" }, { path = \"b.gguf\", scale = \"1\" }]\n" +
               kDataset);
  EXPECT_HAS(e, "models[0].adapters[1].scale: expected a number, got a string");
  e = error_of(head + "adapters = [{ path = \"a.gguf\", scale = nan }]\n" + kDataset);
  EXPECT_HAS(e, "models[0].adapters[0].scale: must be a finite number");
  e = error_of(head + "adapters = [{ path = \"a.gguf\", scale = inf }]\n" + kDataset);
  EXPECT_HAS(e, "models[0].adapters[0].scale: must be a finite number");
  e = error_of(head + "adapters = [{ path = \"a.gguf\", alpha = 2 }]\n" + kDataset);
  EXPECT_HAS(e, "models[0].adapters[0].alpha: unknown key (known keys here: path, scale)");
}

TEST(ConfigAdapters, AServedModelWithAdaptersIsAnError) {
  auto e = error_of(
      "[[models]]\nbackend = \"openai\"\nbase_url = \"http://127.0.0.1:8080/v1\"\n"
      "name = \"served\"\nadapters = [{ path = \"a.gguf\" }]\n" +
      kDataset);
  EXPECT_HAS(e, "models[0].adapters: only for backend = \"llama\"");
}

TEST(ConfigAdapters, LoraFlagsGiveTheShortFormsModelItsAdapters) {
  RunFlags f;
  f.model = "models/m.gguf";
  f.dataset = "d.jsonl";
  f.lora = {"a.gguf", "dir/b.gguf:0.25"};
  auto c = run_config_from_flags(f);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->models.size(), 1u);
  ASSERT_EQ(c->models[0].adapters.size(), 2u);
  EXPECT_EQ(c->models[0].adapters[0].path, "a.gguf");
  EXPECT_EQ(c->models[0].adapters[0].scale, 1.0f);
  EXPECT_EQ(c->models[0].adapters[1].path, "dir/b.gguf");
  EXPECT_EQ(c->models[0].adapters[1].scale, 0.25f);

  f.lora = {":0.5"};
  auto bad = run_config_from_flags(f);
  ASSERT_FALSE(bad);
  EXPECT_HAS(bad.error().message, "--lora");

  f.lora = {"a.gguf"};
  f.model.clear();
  f.base_url = "http://127.0.0.1:8080/v1";
  bad = run_config_from_flags(f);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_HAS(bad.error().message, "--lora: applies to a --model loaded here");

  RunFlags g;
  g.config = "run.toml";
  g.lora = {"a.gguf"};
  bad = run_config_from_flags(g);
  ASSERT_FALSE(bad);
  EXPECT_HAS(bad.error().message, "adapters = [...]");
}

}  // namespace
}  // namespace clinbench
