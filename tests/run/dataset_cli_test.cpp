// `clinbench dataset check` driven through the CLI, as a user runs it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"

namespace clinbench {
namespace {

using testing::clinbench_binary;
using testing::CommandResult;
using testing::run_command;

std::string fixture(const std::string& name) {
  return std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/" + name;
}

CommandResult check(std::vector<std::string> args) {
  std::vector<std::string> argv = {clinbench_binary(), "dataset", "check"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

#define EXPECT_HAS(haystack, needle)                                                            \
  EXPECT_NE((haystack).find(needle), std::string::npos) << "missing '" << (needle) << "' in:\n" \
                                                        << (haystack)

TEST(DatasetCli, CleanLabeledFile) {
  const CommandResult r = check({fixture("curebench_valset.jsonl")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_HAS(r.out, "curebench format, 6 rows, 6 items");
  EXPECT_HAS(r.out, "multi_choice");
  EXPECT_HAS(r.out, "open_ended_multi_choice");
  EXPECT_EQ(r.out.find("invalid rows"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("has no labels"), std::string::npos) << r.out;
}

TEST(DatasetCli, UnlabeledSplitIsFlagged) {
  const CommandResult r = check({fixture("curebench_testset.jsonl")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_HAS(r.out, "split test has no labels");
}

TEST(DatasetCli, InvalidRowsAreReportedWithLinesButNotFatal) {
  const CommandResult r = check({fixture("curebench_broken.jsonl")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_HAS(r.out, "invalid rows (skipped)");
  EXPECT_HAS(r.out, "curebench_broken.jsonl:2:");  // the unclosed object
  EXPECT_HAS(r.out, "duplicate ids (1): ok-1");
  EXPECT_HAS(r.out, "answer_not_in_options");
}

TEST(DatasetCli, StrictFailsOnInvalidRows) {
  const CommandResult bad = check({fixture("curebench_broken.jsonl"), "--strict"});
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_HAS(bad.out, "invalid rows (skipped)");  // the report is still printed
  EXPECT_HAS(bad.err, "invalid row(s) (--strict)");
  const CommandResult good = check({fixture("curebench_valset.jsonl"), "--strict"});
  EXPECT_EQ(good.exit_code, 0) << good.err;
}

TEST(DatasetCli, JsonReport) {
  const CommandResult r = check({fixture("curebench_broken.jsonl"), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["format"], "curebench");
  EXPECT_EQ(j["ok"], false);
  EXPECT_GT(j["issues"].size(), 5u);
  EXPECT_EQ(j["issues"][0]["line"], 2);
  EXPECT_EQ(j["duplicate_ids"], nlohmann::json::array({"ok-1"}));
}

TEST(DatasetCli, FormatAndSplitFlags) {
  const CommandResult r = check(
      {fixture("curebench_valset.jsonl"), "--split", "dev", "--format", "curebench", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_TRUE(j["by_split"].contains("dev")) << r.out;
  EXPECT_FALSE(j["by_split"].contains("val")) << r.out;

  const CommandResult mmlu = check({fixture("mmlu"), "--format", "mmlu"});
  EXPECT_EQ(mmlu.exit_code, 0) << mmlu.err;
  EXPECT_HAS(mmlu.out, "mmlu format");
}

TEST(DatasetCli, UnreadableFileExits3) {
  testing::ScratchDir dir;
  const CommandResult missing = check({dir.file("nope.jsonl")});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_HAS(missing.err, "nope.jsonl");
  EXPECT_TRUE(missing.out.empty()) << missing.out;

  const CommandResult json = check({dir.file("nope.jsonl"), "--json"});
  EXPECT_EQ(json.exit_code, 3);
  const nlohmann::json j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << json.out;
  EXPECT_TRUE(j.contains("error"));

  testing::write_file(dir.file("data.txt"), "this is not a dataset\n");
  const CommandResult unknown = check({dir.file("data.txt")});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.out << unknown.err;
}

TEST(DatasetCli, EmptyFileIsReadableButReported) {
  const CommandResult r = check({fixture("empty.jsonl")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_HAS(r.out, "empty_file");
  EXPECT_EQ(check({fixture("empty.jsonl"), "--strict"}).exit_code, 3);
}

TEST(DatasetCli, UsageErrors) {
  EXPECT_EQ(check({fixture("curebench_valset.jsonl"), "--format", "parquet"}).exit_code, 2);
  EXPECT_EQ(check({}).exit_code, 2);                                     // no file
  EXPECT_EQ(run_command({clinbench_binary(), "dataset"}).exit_code, 2);  // no subcommand
  const CommandResult help = run_command({clinbench_binary(), "dataset", "check", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_HAS(help.out, "--strict");
}

}  // namespace
}  // namespace clinbench
