// `clinbench fidelity --out RUN_DIR` into a real run directory of stories260K, then `clinbench
// report RUN_DIR`: figure 5 of the written page draws the numbers of the written fidelity.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const json& panel_values(const json& doc, const std::string& id) {
  for (const auto& f : doc["figures"]) {
    for (const auto& p : f["panels"]) {
      if (p["id"] == id) return p["spec"]["data"]["values"];
    }
  }
  static const json none;
  ADD_FAILURE() << "no panel " << id;
  return none;
}

TEST(FidelityDashboard, ReportOfARunDirectoryDrawsItsFidelityJson) {
  testing::ScratchDir dir;
  const std::string run_dir = dir.file("run");
  const std::string dataset =
      std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/curebench_valset.jsonl";
  auto run =
      testing::run_command({testing::clinbench_binary(), "run", "--model", testing::stories_model(),
                            "--dataset", dataset, "--limit", "3", "--max-tokens", "8", "--strategy",
                            "native", "--isolation", "none", "--out", run_dir});
  ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
  auto fid = testing::run_command(
      {testing::clinbench_binary(), "fidelity", "--reference", testing::stories_model(),
       "--candidate", "quantize:q8", "--candidate", "quantize:q4", "--dataset", dataset,
       "--trace-tokens", "8", "--ctx", "512", "--threads", "1", "--out", run_dir});
  ASSERT_EQ(fid.exit_code, 0) << fid.err << fid.out;
  const json file = json::parse(testing::read_file(run_dir + "/fidelity.json"));
  ASSERT_EQ(file["candidates"].size(), 2u);

  const std::string page = dir.file("page.html");
  auto rep = testing::run_command(
      {testing::clinbench_binary(), "report", run_dir, "--no-figures", "-o", page});
  ASSERT_EQ(rep.exit_code, 0) << rep.err << rep.out;
  const std::string html = testing::read_file(page);
  const std::string tag = "<script type=\"application/json\" id=\"clinbench-data\">";
  const auto start = html.find(tag);
  ASSERT_NE(start, std::string::npos);
  const json doc = json::parse(
      html.substr(start + tag.size(), html.find("</script>", start) - start - tag.size()));

  // Every item's answer and trace KL, under the file's key.
  const json& kl = panel_values(doc, "fidelity-kl");
  std::map<std::string, std::size_t> index = {{"quantize:q8", 0}, {"quantize:q4", 1}};
  std::size_t items = 0;
  for (const auto& c : file["candidates"]) items += c["items"].size();
  ASSERT_EQ(kl.size(), 2 * items);
  for (const auto& v : kl) {
    ASSERT_TRUE(index.count(v["candidate"])) << v.dump();
    const json& cand = file["candidates"][index[v["candidate"]]];
    bool found = false;
    for (const auto& it : cand["items"]) {
      if (it["id"] != v["id"]) continue;
      found = true;
      EXPECT_EQ(v["kl"], it[v["source"].get<std::string>()]) << v.dump();
    }
    EXPECT_TRUE(found) << v.dump();
  }
  // The flipped items of each candidate, in the summary's order.
  std::vector<json> flipped;
  for (const auto& c : file["candidates"]) {
    for (const auto& id : c["summary"]["flipped"]) flipped.push_back(id);
  }
  const json& flips = panel_values(doc, "fidelity-flips");
  if (flipped.empty()) {
    EXPECT_NE(flips.dump().find("No answer flips"), std::string::npos) << flips.dump();
  } else {
    ASSERT_EQ(flips.size(), flipped.size());
    for (std::size_t i = 0; i < flipped.size(); ++i) EXPECT_EQ(flips[i]["id"], flipped[i]);
  }
  // Weight bytes of the reference and the candidates, q4 the smallest; accuracies as stored.
  const json& size = panel_values(doc, "fidelity-size");
  ASSERT_EQ(size.size(), 3u);
  EXPECT_EQ(size[0]["weight_bytes"], file["reference"]["use"]["weight_bytes"]);
  EXPECT_EQ(size[0]["accuracy"],
            file["candidates"][0]["summary"]["reference_accuracy"]["accuracy"]);
  for (std::size_t c = 0; c < 2; ++c) {
    EXPECT_EQ(size[c + 1]["weight_bytes"], file["candidates"][c]["use"]["weight_bytes"]);
    EXPECT_EQ(size[c + 1]["accuracy"],
              file["candidates"][c]["summary"]["candidate_accuracy"]["accuracy"]);
  }
  EXPECT_LT(size[2]["weight_bytes"].get<uint64_t>(), size[1]["weight_bytes"].get<uint64_t>());
  EXPECT_LT(size[1]["weight_bytes"].get<uint64_t>(), size[0]["weight_bytes"].get<uint64_t>());
}

}  // namespace
}  // namespace clinbench
