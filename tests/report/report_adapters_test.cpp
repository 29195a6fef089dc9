// The dashboard names each model's LoRA adapters beside it (the models table).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "clinbench/report.h"
#include "clinbench/store.h"
#include "store/store_test_util.h"
#include "test_util.h"

namespace clinbench {
namespace {

using json = nlohmann::json;

TEST(ReportAdapters, ModelsTableNamesEachModelsAdapters) {
  testing::ScratchDir dir;
  const std::filesystem::path run = std::filesystem::path(dir.path()) / "run";
  {
    auto store = RunStore::open(run);
    ASSERT_TRUE(store) << store.error().message;
    const json tuned_log = {{"format", "clinbench.attempt_log/1"},
                            {"attempts", json::array()},
                            {"adapters",
                             {{{"path", "/lora/clinical.gguf"}, {"scale", 0.5}},
                              {{"path", "/lora/style.gguf"}, {"scale", 1.0}}}}};
    ASSERT_TRUE(store->put_model({.name = "tuned",
                                  .path = "/models/base.gguf",
                                  .strategy = "native",
                                  .attempt_log = tuned_log.dump()}));
    ASSERT_TRUE(
        store->put_model({.name = "base", .path = "/models/base.gguf", .strategy = "native"}));
    ASSERT_TRUE(store->record_item(store_test::sample_item("tuned", "val", 0)));
    ASSERT_TRUE(store->record_item(store_test::sample_item("base", "val", 0)));
  }
  auto doc = report_data(run);
  ASSERT_TRUE(doc) << doc.error().message;
  const json* models = nullptr;
  for (const auto& t : (*doc)["tables"]) {
    if (t["id"] == "models") models = &t;
  }
  ASSERT_NE(models, nullptr);
  bool has_column = false;
  for (const auto& c : (*models)["columns"]) has_column = has_column || c["key"] == "adapters";
  EXPECT_TRUE(has_column);
  std::map<std::string, std::string> adapters;
  for (const auto& r : (*models)["rows"]) adapters[r["name"]] = r["adapters"];
  EXPECT_EQ(adapters["tuned"], "clinical.gguf (scale 0.5), style.gguf (scale 1)");
  EXPECT_EQ(adapters["base"], "");
}

}  // namespace
}  // namespace clinbench
