// manifest.json and verify: written from a run store, then inputs changed, removed, added.
#include <gtest/gtest.h>

#include <filesystem>
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

// A run directory with two models (one given in inputs, one only in the store), a file dataset,
// a directory dataset, a config and both exports.
class VerifyRun : public ::testing::Test {
 protected:
  void SetUp() override {
    put(model_path(), "GGUF tiny weights");
    put(other_model_path(), "GGUF other weights");
    put(dataset_path(), "{\"id\":\"q1\"}\n");
    put(dir_dataset() / "ori_pqal.json", "{\"1\": {}}");
    put(dir_dataset() / "extra" / "labels.json", "[]");
    put(config_path(), "[run]\nlimit = 100\n");

    auto store = RunStore::open(run_dir());
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(
        store->put_model({.name = "tiny", .path = model_path().string(), .strategy = "native"}));
    ASSERT_TRUE(store->put_model({.name = "other",
                                  .path = other_model_path().string(),
                                  .sha256 = *sha256_file(other_model_path().string()),
                                  .strategy = "cpu"}));
    ASSERT_TRUE(store->set_metadata(kMetadataBuild, {{"clinbench_commit", "at-run-start"}}));
    ASSERT_TRUE(store->set_metadata(kMetadataStartedAt, "2025-01-31T12:00:00.000Z"));
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(store->record_item(store_test::sample_item("tiny", "val", i)));
    }
    // The exports a run ends with, the manifest last.
    auto w = write_run_exports(*store, run_dir(), nlohmann::json::object(), inputs());
    ASSERT_TRUE(w) << w.error().message;
  }

  nlohmann::json inputs() const {
    return {{"models", {{"tiny", model_path().string()}}},
            {"datasets", {{"val", dataset_path().string()}, {"pubmedqa", dir_dataset().string()}}},
            {"config", config_path().string()}};
  }
  fs::path base() const { return fs::path(scratch_.path()); }
  fs::path run_dir() const { return base() / "run"; }
  fs::path model_path() const { return base() / "models" / "tiny.gguf"; }
  fs::path other_model_path() const { return base() / "models" / "other.gguf"; }
  fs::path dataset_path() const { return base() / "data" / "val.jsonl"; }
  fs::path dir_dataset() const { return base() / "data" / "pubmedqa"; }
  fs::path config_path() const { return base() / "run.toml"; }

  testing::ScratchDir scratch_;
};

TEST_F(VerifyRun, ManifestListsInputsExportsBuildAndHost) {
  const auto m = nlohmann::json::parse(testing::read_file(RunPaths::manifest(run_dir())));
  EXPECT_EQ(m["format"], "clinbench.manifest/1");
  EXPECT_EQ(m["run_dir"], fs::absolute(run_dir()).lexically_normal().string());
  const auto& in = m["inputs"];
  EXPECT_EQ(in["models"]["tiny"]["sha256"], *sha256_file(model_path().string()));
  EXPECT_EQ(in["models"]["tiny"]["path"], model_path().string());
  EXPECT_EQ(in["models"]["tiny"]["size"], fs::file_size(model_path()));
  // Not in inputs, hashed from the store's record; its load-time hash is kept.
  EXPECT_EQ(in["models"]["other"]["sha256"], *sha256_file(other_model_path().string()));
  EXPECT_EQ(in["models"]["other"]["sha256_at_start"], in["models"]["other"]["sha256"]);
  EXPECT_EQ(in["datasets"]["val"]["kind"], "file");
  EXPECT_EQ(in["datasets"]["pubmedqa"]["kind"], "directory");
  EXPECT_EQ(in["datasets"]["pubmedqa"]["files"].size(), 2u);
  EXPECT_EQ(in["config"]["sha256"], sha256_string("[run]\nlimit = 100\n"));
  EXPECT_EQ(m["exports"]["samples.jsonl"]["sha256"],
            *sha256_file(RunPaths::samples(run_dir()).string()));
  EXPECT_EQ(m["exports"]["results.json"]["path"], "results.json");
  EXPECT_EQ(m["run"]["items"], 3);
  EXPECT_EQ(m["run"]["models"][0]["name"], "other");
  EXPECT_EQ(m["run"]["models"][1]["strategy"], "native");
  EXPECT_EQ(m["run"]["started_at"], "2025-01-31T12:00:00.000Z");
  EXPECT_TRUE(m["run"]["finished_at"].is_null());
  EXPECT_TRUE(m["run"]["energy"].is_null());
  EXPECT_EQ(m["build"]["clinbench_commit"], "at-run-start");  // the store's, not this process's
  EXPECT_FALSE(m["host"]["hostname"].get<std::string>().empty());
  EXPECT_FALSE(
      fs::exists(RunPaths::manifest(run_dir()).string() + ".tmp." + std::to_string(getpid())));
}

TEST_F(VerifyRun, UntouchedRunIsOk) {
  auto r = verify_run(run_dir());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->drifted()) << format_verify_report(*r);
  EXPECT_EQ(r->entries.size(), 2u + 2u + 1u + 2u);
  EXPECT_EQ(r->count(VerifyStatus::kOk), r->entries.size());
  const auto j = to_json(*r);
  EXPECT_EQ(j["drifted"], false);
  EXPECT_EQ(j["counts"]["ok"], 7);
}

TEST_F(VerifyRun, ChangedInputIsReportedWithBothHashes) {
  const std::string before = *sha256_file(dataset_path().string());
  put(dataset_path(), "{\"id\":\"q1\",\"correct_answer\":\"C\"}\n");
  auto r = verify_run(run_dir());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->drifted());
  const VerifyEntry* e = find(*r, "dataset", "val");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status, VerifyStatus::kChanged);
  EXPECT_EQ(e->expected_sha256, before);
  EXPECT_EQ(e->actual_sha256, *sha256_file(dataset_path().string()));
  EXPECT_EQ(r->count(VerifyStatus::kChanged), 1u);
  EXPECT_NE(format_verify_report(*r).find("changed    dataset val"), std::string::npos)
      << format_verify_report(*r);
}

TEST_F(VerifyRun, MissingInputIsReported) {
  fs::remove(model_path());
  auto r = verify_run(run_dir());
  ASSERT_TRUE(r) << r.error().message;
  const VerifyEntry* e = find(*r, "model", "tiny");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status, VerifyStatus::kMissing);
  EXPECT_TRUE(e->actual_sha256.empty());
  EXPECT_EQ(r->count(VerifyStatus::kMissing), 1u);
  EXPECT_EQ(r->count(VerifyStatus::kOk), r->entries.size() - 1);
}

TEST_F(VerifyRun, DirectoryDriftNamesTheFiles) {
  put(dir_dataset() / "ori_pqal.json", "{\"1\": {\"final_decision\": \"yes\"}}");
  fs::remove(dir_dataset() / "extra" / "labels.json");
  put(dir_dataset() / "new.json", "{}");
  auto r = verify_run(run_dir());
  ASSERT_TRUE(r);
  const VerifyEntry* e = find(*r, "dataset", "pubmedqa");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status, VerifyStatus::kChanged);
  ASSERT_EQ(e->details.size(), 3u);
  EXPECT_EQ(e->details[0], "missing: extra/labels.json");
  EXPECT_EQ(e->details[1].rfind("changed: ori_pqal.json (sha256 ", 0), 0u) << e->details[1];
  EXPECT_EQ(e->details[2], "added: new.json");
}

TEST_F(VerifyRun, ChangedExportIsReported) {
  put(RunPaths::results(run_dir()), "{}");
  auto r = verify_run(run_dir());
  ASSERT_TRUE(r);
  const VerifyEntry* e = find(*r, "export", "results.json");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status, VerifyStatus::kChanged);
  EXPECT_EQ(e->path, (run_dir() / "results.json").string());
}

TEST_F(VerifyRun, InputChangedDuringTheRunIsReported) {
  {
    auto store = RunStore::open(run_dir());
    ASSERT_TRUE(store);
    auto at_start = hash_inputs(inputs());
    ASSERT_TRUE(at_start);
    ASSERT_TRUE(store->set_metadata(kMetadataInputs, *at_start));
    put(config_path(), "[run]\nlimit = 5\n");  // edited while the run went on
    ASSERT_TRUE(write_manifest(*store, run_dir(), inputs()));
  }
  auto r = verify_run(run_dir());
  ASSERT_TRUE(r);
  const VerifyEntry* e = find(*r, "config", "");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->status, VerifyStatus::kChanged);
  EXPECT_EQ(e->actual_sha256, e->expected_sha256);  // unchanged since the manifest
  ASSERT_EQ(e->details.size(), 1u);
  EXPECT_EQ(e->details[0].rfind("changed during the run", 0), 0u);
  EXPECT_EQ(r->count(VerifyStatus::kChanged), 1u) << format_verify_report(*r);
}

TEST_F(VerifyRun, MissingInputFailsTheManifestNamingIt) {
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  nlohmann::json in = inputs();
  in["datasets"]["test"] = (base() / "data" / "test.jsonl").string();
  auto w = write_manifest(*store, run_dir(), in);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kNotFound);
  EXPECT_NE(w.error().message.find("manifest.json: datasets.test: "), std::string::npos)
      << w.error().message;
}

TEST(VerifyManifest, AbsentOrCorruptManifestIsAnError) {
  testing::ScratchDir dir;
  auto r = verify_run(dir.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("manifest.json"), std::string::npos);

  testing::write_file(dir.file("manifest.json"), "{\"format\": ");
  r = verify_run(dir.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);

  testing::write_file(dir.file("manifest.json"), R"({"format": "something/else"})");
  r = verify_run(dir.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);

  testing::write_file(dir.file("manifest.json"),
                      R"({"format": "clinbench.manifest/1", "inputs": {"models": {"m": {}}}})");
  r = verify_run(dir.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(r.error().message.find("inputs.models.m.sha256"), std::string::npos)
      << r.error().message;
}

// --- the CLI ---------------------------------------------------------------------------------

TEST_F(VerifyRun, CliExitCodes) {
  const std::string bin = testing::clinbench_binary();
  auto ok = testing::run_command({bin, "verify", run_dir().string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("verified: 7 inputs and exports, 7 ok"), std::string::npos) << ok.out;

  put(model_path(), "GGUF tiny weights, requantized");
  auto drift = testing::run_command({bin, "verify", run_dir().string(), "--json"});
  EXPECT_EQ(drift.exit_code, 1) << drift.out << drift.err;
  const auto j = nlohmann::json::parse(drift.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << drift.out;
  EXPECT_EQ(j["drifted"], true);
  EXPECT_EQ(j["counts"]["changed"], 1);

  fs::remove(RunPaths::manifest(run_dir()));
  auto none = testing::run_command({bin, "verify", run_dir().string()});
  EXPECT_EQ(none.exit_code, 3) << none.out << none.err;
  EXPECT_NE(none.err.find("manifest.json"), std::string::npos) << none.err;
}

TEST_F(VerifyRun, CliPackage) {
  const std::string bin = testing::clinbench_binary();
  const std::string zip = (base() / "submission.zip").string();
  // The fixture recorded no run config: the coverage cannot be checked, so only --partial
  // packages it.
  auto r = testing::run_command(
      {bin, "package", run_dir().string(), "--model", "tiny", "-o", zip, "--info", "CLI test"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot check that model 'tiny' covers dataset 'val'"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(zip));
  r = testing::run_command({bin, "package", run_dir().string(), "--model", "tiny", "-o", zip,
                            "--info", "CLI test", "--partial"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("3 items of val by tiny"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(zip));

  auto unknown =
      testing::run_command({bin, "package", run_dir().string(), "--model", "huge", "-o", zip});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.err;
  EXPECT_NE(unknown.err.find("unknown model 'huge' (models in this run: other, tiny)"),
            std::string::npos)
      << unknown.err;

  const std::string nowhere = (base() / "not_a_run").string();
  auto missing = testing::run_command({bin, "package", nowhere, "--model", "tiny", "-o", zip});
  EXPECT_EQ(missing.exit_code, 3) << missing.err;
  EXPECT_NE(missing.err.find("not a run directory"), std::string::npos) << missing.err;
  EXPECT_FALSE(fs::exists(nowhere));

  // A run in progress holds the directory: package says so and writes nothing.
  auto store = RunStore::open(run_dir());
  ASSERT_TRUE(store);
  fs::remove(zip);
  auto busy =
      testing::run_command({bin, "package", run_dir().string(), "--model", "tiny", "-o", zip});
  EXPECT_NE(busy.exit_code, 0);
  EXPECT_NE(busy.err.find("in use by process"), std::string::npos) << busy.err;
  EXPECT_FALSE(fs::exists(zip));
}

}  // namespace
}  // namespace clinbench
