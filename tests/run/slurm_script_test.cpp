// The Slurm job-array script and merge job of docs/scale-out.md, taken from the document as
// written and run without Slurm: each array task is the script run with the variables Slurm
// sets (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT), then the merge job's --wrap command.
// The merged run must hold every item of the dataset exactly once and package.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "clinbench/dataset.h"
#include "clinbench/store.h"
#include "test_util.h"

namespace clinbench {
namespace {

// The body of the first ```bash block after `heading` in `doc`.
std::string bash_block_after(const std::string& doc, const std::string& heading, int skip = 0) {
  size_t at = doc.find(heading);
  if (at == std::string::npos) return "";
  for (int i = 0; i <= skip; ++i) {
    at = doc.find("```bash\n", at);
    if (at == std::string::npos) return "";
    at += 8;
    if (i < skip) at = doc.find("```", at) + 3;
  }
  const size_t end = doc.find("```", at);
  return end == std::string::npos ? "" : doc.substr(at, end - at);
}

// `cmd` run by bash in `dir` with clinbench first on PATH and `env` set.
testing::CommandResult bash_in(const std::string& dir, const std::string& env,
                               const std::string& cmd) {
  const std::string bin = std::filesystem::path(testing::clinbench_binary()).parent_path();
  return testing::run_command(
      {"/bin/bash", "-c",
       "cd '" + dir + "' && export PATH='" + bin + "':$PATH " + env + " && " + cmd});
}

TEST(RunSlurmScript, TheDocumentedJobArrayAndMergeJobWork) {
  const std::string doc =
      testing::read_file(std::string(CLINBENCH_SOURCE_DIR) + "/docs/scale-out.md");
  const std::string script = bash_block_after(doc, "## Slurm: a job array");
  ASSERT_NE(script.find("SLURM_ARRAY_TASK_ID"), std::string::npos) << script;
  const std::string submit = bash_block_after(doc, "## Slurm: a job array", 1);
  const size_t q = submit.find("--wrap");
  ASSERT_NE(q, std::string::npos) << submit;
  const size_t open = submit.find('\'', q), close = submit.find('\'', open + 1);
  ASSERT_TRUE(open != std::string::npos && close != std::string::npos) << submit;
  const std::string merge_job = submit.substr(open + 1, close - open - 1);

  testing::ScratchDir dir;
  // A dataset without invalid rows: package refuses a run that misses any row of its dataset.
  const std::string dataset =
      std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/curebench_testset.jsonl";
  // The model name is the one the documented merge job packages.
  testing::write_file(dir.file("run.toml"),
                      "[[models]]\nname = \"llama-3-8b\"\npath = \"" + testing::stories_model() +
                          "\"\nctx = 1024\nthreads = 2\n\n[[datasets]]\nname = \"test\"\n"
                          "path = \"" +
                          dataset + "\"\n\n[decoding]\nmax_tokens = 8\n");
  testing::write_file(dir.file("clinbench-array.sbatch"), script);
  const int n = 3;
  for (int i = 0; i < n; ++i) {
    auto r = bash_in(
        dir.path(),
        "SLURM_ARRAY_TASK_COUNT=" + std::to_string(n) + " SLURM_ARRAY_TASK_ID=" + std::to_string(i),
        "bash clinbench-array.sbatch");
    ASSERT_EQ(r.exit_code, 0) << "task " << i << ": " << r.err;
  }
  auto merged = bash_in(dir.path(), "", merge_job);
  ASSERT_EQ(merged.exit_code, 0) << merged.out << merged.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("submission.zip")));

  auto ds = read_dataset(dataset);
  ASSERT_TRUE(ds) << ds.error().message;
  auto store = RunStore::open(dir.file("runs/dev/merged"));
  ASSERT_TRUE(store) << store.error().message;
  auto items = store->items();
  ASSERT_TRUE(items);
  std::set<std::string> ids;
  for (const auto& r : *items) EXPECT_TRUE(ids.insert(r.item_id).second) << r.item_id;
  std::set<std::string> want;
  for (const auto& it : ds->items) want.insert(it.id);
  EXPECT_EQ(ids, want);
}

}  // namespace
}  // namespace clinbench
