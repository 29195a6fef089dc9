// LoRA adapters as inputs of a run: hashed in manifest.json (with the hash at start), checked by
// verify (a changed or missing adapter is drift), and named in package's meta_data.json.
#include <gtest/gtest.h>
#include <zip.h>

#include <filesystem>
#include <memory>
#include <string>

#include "clinbench/hash.h"
#include "clinbench/package.h"
#include "clinbench/provenance.h"
#include "clinbench/store.h"
#include "run/exports.h"
#include "store/store_test_util.h"
#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;

void put(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  testing::write_file(path.string(), content);
}

const VerifyEntry* find(const VerifyReport& r, const std::string& kind, const std::string& name) {
  for (const auto& e : r.entries) {
    if (e.kind == kind && e.name == name) return &e;
  }
  return nullptr;
}

// meta_data.json of a submission zip.
nlohmann::json zip_meta(const fs::path& path) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &err);
  EXPECT_NE(z, nullptr) << err;
  if (z == nullptr) return {};
  zip_stat_t st;
  zip_stat_init(&st);
  EXPECT_EQ(zip_stat(z, "meta_data.json", 0, &st), 0);
  std::string text(st.size, '\0');
  zip_file_t* f = zip_fopen(z, "meta_data.json", 0);
  EXPECT_NE(f, nullptr);
  if (f != nullptr) {
    EXPECT_EQ(zip_fread(f, text.data(), st.size), static_cast<zip_int64_t>(st.size));
    zip_fclose(f);
  }
  zip_discard(z);
  return nlohmann::json::parse(text);
}

TEST(AdapterInputs, HashedUnderTheirModelsKeyOnlyWhenGiven) {
  testing::ScratchDir dir;
  put(dir.file("m.gguf"), "base");
  put(dir.file("a.gguf"), "adapter a");
  EXPECT_EQ(adapter_input_name("tuned", 1), "tuned.adapters[1]");
  auto h = hash_inputs({{"models", {{"tuned", dir.file("m.gguf")}}},
                        {"adapters", {{adapter_input_name("tuned", 0), dir.file("a.gguf")}}}});
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ((*h)["adapters"]["tuned.adapters[0]"]["sha256"], *sha256_file(dir.file("a.gguf")));
  EXPECT_EQ((*h)["adapters"]["tuned.adapters[0]"]["kind"], "file");
  // Without adapters the inputs keep the shape they always had.
  auto plain = hash_inputs({{"models", {{"base", dir.file("m.gguf")}}}});
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_FALSE(plain->contains("adapters"));
  // A missing adapter is an error naming it.
  auto missing = hash_inputs({{"adapters", {{"tuned.adapters[0]", dir.file("gone.gguf")}}}});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("adapters.tuned.adapters[0]"), std::string::npos)
      << missing.error().message;
}

// A run directory with a base model and an adapter on it, as a run leaves it.
class AdapterRun : public ::testing::Test {
 protected:
  void SetUp() override {
    put(model_path(), "GGUF base weights");
    put(adapter_path(), "GGUF adapter weights");
    auto store = RunStore::open(run_dir());
    ASSERT_TRUE(store) << store.error().message;
    const nlohmann::json log = {{"adapters",
                                 {{{"path", adapter_path().string()},
                                   {"sha256", *sha256_file(adapter_path().string())},
                                   {"scale", 0.5}}}}};
    ASSERT_TRUE(store->put_model({.name = "tuned",
                                  .path = model_path().string(),
                                  .strategy = "native",
                                  .attempt_log = log.dump()}));
    ASSERT_TRUE(
        store->put_model({.name = "base", .path = model_path().string(), .strategy = "native"}));
    // The hashes at start, as the run records them.
    auto started = hash_inputs(inputs());
    ASSERT_TRUE(started) << started.error().message;
    ASSERT_TRUE(store->set_metadata(kMetadataInputs, *started));
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(store->record_item(store_test::sample_item("tuned", "val", i)));
      ASSERT_TRUE(store->record_item(store_test::sample_item("base", "val", i)));
    }
    auto w = write_run_exports(*store, run_dir(), nlohmann::json::object(), inputs());
    ASSERT_TRUE(w) << w.error().message;
  }

  nlohmann::json inputs() const {
    return {{"models", {{"tuned", model_path().string()}, {"base", model_path().string()}}},
            {"adapters", {{"tuned.adapters[0]", adapter_path().string()}}}};
  }
  fs::path base() const { return fs::path(scratch_.path()); }
  fs::path run_dir() const { return base() / "run"; }
  fs::path model_path() const { return base() / "models" / "stories260K.gguf"; }
  fs::path adapter_path() const { return base() / "lora" / "clinical.gguf"; }

  testing::ScratchDir scratch_;
};

TEST_F(AdapterRun, ManifestHashesTheAdapterAndVerifyReportsItsDrift) {
  const auto m = nlohmann::json::parse(testing::read_file(RunPaths::manifest(run_dir())));
  const auto& a = m["inputs"]["adapters"]["tuned.adapters[0]"];
  EXPECT_EQ(a["sha256"], *sha256_file(adapter_path().string()));
  EXPECT_EQ(a["sha256_at_start"], a["sha256"]);
  EXPECT_EQ(a["path"], adapter_path().string());

  auto ok = verify_run(run_dir());
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_FALSE(ok->drifted()) << format_verify_report(*ok);
  const VerifyEntry* e = find(*ok, "adapter", "tuned.adapters[0]");
  ASSERT_NE(e, nullptr) << format_verify_report(*ok);
  EXPECT_EQ(e->status, VerifyStatus::kOk);

  put(adapter_path(), "GGUF adapter weights, retrained");
  auto changed = verify_run(run_dir());
  ASSERT_TRUE(changed) << changed.error().message;
  EXPECT_TRUE(changed->drifted());
  e = find(*changed, "adapter", "tuned.adapters[0]");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status, VerifyStatus::kChanged);
  EXPECT_EQ(find(*changed, "model", "tuned")->status, VerifyStatus::kOk);
  const std::string text = format_verify_report(*changed);
  EXPECT_NE(text.find("changed    adapter"), std::string::npos) << text;

  fs::remove(adapter_path());
  auto missing = verify_run(run_dir());
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_EQ(find(*missing, "adapter", "tuned.adapters[0]")->status, VerifyStatus::kMissing);
}

TEST_F(AdapterRun, AManifestWithoutAdaptersHasNoAdaptersKey) {
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  ASSERT_TRUE(write_manifest(*store, run_dir(), {{"models", {{"base", model_path().string()}}}}));
  const auto m = nlohmann::json::parse(testing::read_file(RunPaths::manifest(run_dir())));
  EXPECT_FALSE(m["inputs"].contains("adapters")) << m["inputs"].dump();
}

TEST_F(AdapterRun, PackageNamesTheBaseAndTheAdapters) {
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  PackageOptions po;
  po.partial = true;  // the run recorded no dataset: coverage cannot be checked
  const fs::path zip = base() / "tuned.zip";
  auto s = write_submission(*store, "tuned", po, zip);
  ASSERT_TRUE(s) << s.error().message;
  const auto meta = zip_meta(zip);
  EXPECT_EQ(meta["model_name"], "tuned");
  EXPECT_EQ(meta["base_model_name"], "stories260K");  // the base GGUF, not the fine-tune
  EXPECT_EQ(meta["base_model_type"], "OpenWeighted");
  EXPECT_EQ(meta["model_type"], PackageOptions{}.model_type);
  const std::string info = meta["additional_info"].get<std::string>();
  const std::string sha = sha256_file(adapter_path().string())->substr(0, 12);
  EXPECT_NE(info.find("LoRA adapters: clinical.gguf (sha256 " + sha + ", scale 0.5)"),
            std::string::npos)
      << info;

  // The base alone: named as itself, no adapters.
  const fs::path base_zip = base() / "base.zip";
  auto b = write_submission(*store, "base", po, base_zip);
  ASSERT_TRUE(b) << b.error().message;
  const auto base_meta = zip_meta(base_zip);
  EXPECT_EQ(base_meta["base_model_name"], "base");
  EXPECT_EQ(base_meta["additional_info"].get<std::string>().find("LoRA"), std::string::npos);

  // --base-model still wins.
  po.base_model_name = "Llama-2-7B";
  auto named = write_submission(*store, "tuned", po, zip);
  ASSERT_TRUE(named) << named.error().message;
  EXPECT_EQ(zip_meta(zip)["base_model_name"], "Llama-2-7B");
}

}  // namespace
}  // namespace clinbench
