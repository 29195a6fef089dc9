// The fidelity panels of the report (figure 5) on a run directory written through the RunStore API
// and a fidelity.json written by fidelity's own writer from a hand-made FidelityReport (no
// model): the numbers drawn are the file's, markup in model labels and item ids stays text, a
// missing or unreadable file is a message, and a fidelity output directory alone is no run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "clinbench/fidelity.h"
#include "clinbench/report.h"
#include "clinbench/stats.h"
#include "clinbench/store.h"
#include "report/html.h"
#include "report/report_test_util.h"
#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kEvilId = "</script><script>window.__pwned = 1</script>";
const char* kEvilLabel = "<img src=x onerror=\"window.__pwned=2\">.gguf";

void write_run(const fs::path& dir) {
  auto store = RunStore::open(dir);
  ASSERT_TRUE(store) << store.error().message;
  ItemRecord r;
  r.model = "m";
  r.dataset = "d";
  r.item_id = "d-001";
  r.split = "val";
  r.question_type = "multi_choice";
  r.scoring = "generate";
  r.choice = "A";
  r.prediction = "A";
  r.correct_answer = "A";
  r.correct = true;
  r.trace = "[]";
  ASSERT_TRUE(store->record_item(r));
}

ItemFidelity item(const std::string& id, const std::string& answer, const std::string& ref,
                  const std::string& cand, double kl, double trace_kl) {
  ItemFidelity f;
  f.id = id;
  f.answer = answer;
  f.letters = {"A", "B", "C"};
  f.reference_probs = {ref == "A" ? 0.7 : 0.1, ref == "B" ? 0.7 : 0.1, ref == "C" ? 0.8 : 0.2};
  f.candidate_probs = {cand == "A" ? 0.6 : 0.2, cand == "B" ? 0.6 : 0.2, cand == "C" ? 0.6 : 0.2};
  f.reference_choice = ref;
  f.candidate_choice = cand;
  f.reference_correct = ref == answer;
  f.candidate_correct = cand == answer;
  f.answer_kl = kl;
  f.top1_agree = ref == cand;
  f.trace_tokens = 8;
  f.trace_kl_mean = trace_kl;
  f.trace_top1_rate = 0.875;
  return f;
}

AccuracySummary accuracy(std::size_t correct, std::size_t labeled) {
  AccuracySummary a;
  a.items = labeled;
  a.labeled = labeled;
  a.correct = correct;
  a.accuracy = static_cast<double>(correct) / static_cast<double>(labeled);
  a.interval = Interval{*a.accuracy / 2, (1 + *a.accuracy) / 2};
  return a;
}

CandidateResult candidate(const FidelityModel& model, uint64_t bytes,
                          std::vector<ItemFidelity> items, double p99) {
  CandidateResult c;
  c.model = model;
  c.use.weight_bytes = bytes;
  c.use.bits_per_weight = 8.5;
  c.items = std::move(items);
  double sum = 0;
  std::size_t correct = 0, ref_correct = 0;
  for (const auto& it : c.items) {
    sum += it.answer_kl;
    c.kl_max = std::max(c.kl_max, it.answer_kl);
    if (!it.top1_agree) c.flipped.push_back(it.id);
    correct += it.candidate_correct.value_or(false) ? 1 : 0;
    ref_correct += it.reference_correct.value_or(false) ? 1 : 0;
  }
  c.kl_mean = sum / static_cast<double>(c.items.size());
  c.kl_median = c.kl_mean / 3;
  c.kl_p99 = p99;
  c.trace_kl_mean = 0.0123456789;
  c.trace_top1_rate = 0.9;
  c.flip_rate = static_cast<double>(c.flipped.size()) / static_cast<double>(c.items.size());
  c.top1_agreement = 1 - c.flip_rate;
  c.reference_accuracy = accuracy(ref_correct, c.items.size());
  c.candidate_accuracy = accuracy(correct, c.items.size());
  c.mcnemar.pairs = c.items.size();
  c.mcnemar.p_value = 0.625;
  return c;
}

// A reference and two candidates over four items: q8 flips none, the other (a file whose name
// carries markup) flips two, one of them an item whose id carries markup.
json fidelity_doc() {
  FidelityReport r;
  r.reference = {"reference", "/models/ref-f32.gguf", Strategy::kNative, ""};
  r.reference_use.weight_bytes = 1'048'576 * 4;
  r.reference_use.bits_per_weight = 32;
  r.dataset = "/data/val.jsonl";
  r.items = 4;
  r.skipped = {{"open-1", "open_ended: no options"}};
  r.candidates.push_back(candidate(
      {"quantize:q8", r.reference.path, Strategy::kQuantizeQ8, "mixed"}, 1'100'000,
      {item("q-1", "A", "A", "A", 0.0, 0.0), item("q-2", "B", "B", "B", 1.5e-5, 2e-4),
       item("q-3", "C", "C", "C", 3.25e-4, 1.1e-3), item(kEvilId, "A", "B", "B", 7e-6, 0.0)},
      3.25e-4));
  r.candidates.push_back(
      candidate({kEvilLabel, "/models/x.gguf", Strategy::kNative, ""}, 600'000,
                {item("q-1", "A", "A", "B", 0.42, 0.05), item("q-2", "B", "B", "B", 0.0031, 0.02),
                 item("q-3", "C", "C", "C", 0.17, 0.01), item(kEvilId, "A", "B", "A", 0.9, 0.3)},
                0.9));
  return to_json(r);
}

void write_fidelity(const fs::path& dir, const json& doc) {
  std::ofstream(dir / kFidelityFile) << doc.dump(2);
}

using report_test::panel;

const json& find_item(const json& candidate, const json& id) {
  for (const auto& it : candidate["items"]) {
    if (it["id"] == id) return it;
  }
  static const json none;
  ADD_FAILURE() << "no item " << id;
  return none;
}

// The page's data document: the embedded JSON, as the browser reads it.
json embedded_document(const std::string& page) {
  const std::string start_tag = "<script type=\"application/json\" id=\"clinbench-data\">";
  const auto start = page.find(start_tag);
  if (start == std::string::npos) return json();
  const auto end = page.find("</script>", start);
  return json::parse(page.substr(start + start_tag.size(), end - start - start_tag.size()));
}

TEST(ReportFidelity, PanelsDrawTheNumbersOfFidelityJson) {
  testing::ScratchDir dir;
  const fs::path run = dir.file("run");
  write_run(run);
  const json file = fidelity_doc();
  write_fidelity(run, file);
  auto data = report_data(run);
  ASSERT_TRUE(data) << data.error().message;
  // What the browser gets: the page's embedded document.
  const json doc = embedded_document(render_report_html(*data));
  ASSERT_EQ(doc, *data);
  ASSERT_EQ(doc["figures"].size(), 5u);
  EXPECT_EQ(doc["figures"][4]["id"], "figure5");
  const json& cands = file["candidates"];
  const std::vector<std::string> labels = {"quantize:q8", kEvilLabel};

  // KL: one row per item and measure, the value under the file's key; the summary's points.
  const json& kl = panel(doc, "fidelity-kl")["spec"];
  const json& rows = kl["data"]["values"];
  ASSERT_EQ(rows.size(), 2u * 4u * 2u);
  std::map<std::string, int> per_candidate;
  for (const auto& v : rows) {
    const std::string label = v["candidate"];
    const std::size_t c = label == labels[0] ? 0 : 1;
    ASSERT_EQ(labels[c], label);
    ++per_candidate[label];
    const json& it = find_item(cands[c], v["id"]);
    const std::string source = v["source"];
    ASSERT_TRUE(source == "answer_kl" || source == "trace_kl_mean") << source;
    EXPECT_EQ(v["kl"], it[source]) << label << " " << v["id"] << " " << source;
    EXPECT_EQ(v["measure"], source == "answer_kl" ? "answer letters" : "reasoning trace");
    EXPECT_EQ(v["reference_choice"], it["reference_choice"]);
    EXPECT_EQ(v["candidate_choice"], it["candidate_choice"]);
    EXPECT_EQ(v["flipped"], it["flipped"]);
  }
  EXPECT_EQ(per_candidate[labels[0]], 8);
  EXPECT_EQ(per_candidate[labels[1]], 8);
  const json& summary = kl["layer"][1]["data"]["values"];
  ASSERT_EQ(summary.size(), 2u * 3u);
  for (const auto& v : summary) {
    const std::size_t c = v["candidate"] == labels[0] ? 0 : 1;
    EXPECT_EQ(v["kl"], cands[c]["summary"][v["source"].get<std::string>()]) << v.dump();
  }
  EXPECT_DOUBLE_EQ(summary[1]["kl"].get<double>(), 3.25e-4);  // q8's answer_kl_p99

  // Flips: the summary's list, with the items' letters; q8 flips none.
  const json& flips = panel(doc, "fidelity-flips")["spec"]["data"]["values"];
  ASSERT_EQ(cands[1]["summary"]["flipped"], json({"q-1", kEvilId}));
  ASSERT_EQ(flips.size(), 2u);
  for (std::size_t i = 0; i < flips.size(); ++i) {
    const json& v = flips[i];
    const json& it = find_item(cands[1], v["id"]);
    EXPECT_EQ(v["candidate"], labels[1]);
    EXPECT_EQ(v["id"], cands[1]["summary"]["flipped"][i]);
    EXPECT_EQ(v["reference_choice"], it["reference_choice"]);
    EXPECT_EQ(v["candidate_choice"], it["candidate_choice"]);
    EXPECT_EQ(v["answer_kl"], it["answer_kl"]);
  }
  EXPECT_EQ(flips[0]["change"], "A → B");
  EXPECT_EQ(flips[0]["effect"], "now wrong");
  EXPECT_EQ(flips[1]["change"], "B → A");
  EXPECT_EQ(flips[1]["effect"], "now right");
  // Both candidates are columns, the one without flips too.
  EXPECT_EQ(panel(doc, "fidelity-flips")["spec"]["encoding"]["x"]["scale"]["domain"], json(labels));

  // Accuracy against weight bytes: the reference and each candidate, as stored.
  const json& size = panel(doc, "fidelity-size")["spec"]["data"]["values"];
  ASSERT_EQ(size.size(), 3u);
  EXPECT_EQ(size[0]["role"], "reference");
  EXPECT_EQ(size[0]["model"], "reference");
  EXPECT_EQ(size[0]["weight_bytes"], file["reference"]["use"]["weight_bytes"]);
  const json& ref_acc = cands[0]["summary"]["reference_accuracy"];
  EXPECT_EQ(size[0]["accuracy"], ref_acc["accuracy"]);
  EXPECT_EQ(size[0]["ci_low"], ref_acc["interval"][0]);
  EXPECT_EQ(size[0]["ci_high"], ref_acc["interval"][1]);
  for (std::size_t c = 0; c < 2; ++c) {
    const json& v = size[c + 1];
    const json& s = cands[c]["summary"];
    EXPECT_EQ(v["model"], labels[c]);
    EXPECT_EQ(v["role"], "candidate");
    EXPECT_EQ(v["weight_bytes"], cands[c]["use"]["weight_bytes"]);
    EXPECT_EQ(v["bits_per_weight"], cands[c]["use"]["bits_per_weight"]);
    EXPECT_EQ(v["accuracy"], s["candidate_accuracy"]["accuracy"]);
    EXPECT_EQ(v["ci_low"], s["candidate_accuracy"]["interval"][0]);
    EXPECT_EQ(v["ci_high"], s["candidate_accuracy"]["interval"][1]);
    EXPECT_EQ(v["answer_kl_mean"], s["answer_kl_mean"]);
    EXPECT_EQ(v["mcnemar_p"], s["mcnemar"]["p_value"]);
    EXPECT_DOUBLE_EQ(v["weight_mib"].get<double>(),
                     cands[c]["use"]["weight_bytes"].get<double>() / (1024.0 * 1024.0));
  }
}

// Candidates of almost the same size and accuracy (the usual case: quantizing barely changes
// a model) get labels on separate lines; a point far from the others keeps its label at its
// accuracy.
TEST(ReportFidelity, SizePanelLabelsOfNearbyPointsDoNotOverlap) {
  FidelityReport r;
  r.reference = {"reference", "/models/ref-f16.gguf", Strategy::kNative, ""};
  r.reference_use.weight_bytes = 4'000'000;
  r.dataset = "/data/val.jsonl";
  r.items = 4;
  const auto same = std::vector<ItemFidelity>{
      item("q-1", "A", "A", "A", 0.0, 0.0), item("q-2", "B", "B", "B", 0.0, 0.0),
      item("q-3", "C", "C", "C", 0.0, 0.0), item("q-4", "A", "B", "B", 0.0, 0.0)};
  for (const auto& [label, bytes] :
       {std::pair{"q8-a", 1'100'000}, {"q8-b", 1'110'000}, {"q8-c", 1'120'000}, {"q4", 600'000}}) {
    r.candidates.push_back(
        candidate({label, r.reference.path, Strategy::kQuantizeQ8, "mixed"}, bytes, same, 0.0));
  }
  testing::ScratchDir dir;
  const fs::path run = dir.file("run");
  write_run(run);
  write_fidelity(run, to_json(r));
  auto data = report_data(run);
  ASSERT_TRUE(data) << data.error().message;
  const json& rows = panel(*data, "fidelity-size")["spec"]["data"]["values"];
  ASSERT_EQ(rows.size(), 5u);
  const double line = 13.0 / 220;  // one label line in accuracy units
  double x_lo = 1e300, x_hi = 0;
  for (const auto& row : rows) {
    x_lo = std::min(x_lo, row["weight_mib"].get<double>());
    x_hi = std::max(x_hi, row["weight_mib"].get<double>());
  }
  auto px = [&](const json& row) {
    return (row["weight_mib"].get<double>() - x_lo) / (x_hi - x_lo) * 300;
  };
  int moved = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double y = rows[i]["label_y"].get<double>();
    EXPECT_GE(y, 0.0);
    EXPECT_LE(y, 1.2);
    moved += y != rows[i]["accuracy"].get<double>();
    for (std::size_t j = i + 1; j < rows.size(); ++j) {
      if (std::abs(px(rows[i]) - px(rows[j])) >= 150) continue;
      EXPECT_GE(std::abs(y - rows[j]["label_y"].get<double>()), line - 1e-9)
          << rows[i]["model"] << " and " << rows[j]["model"];
    }
  }
  EXPECT_GE(moved, 2);  // three candidates at one point: two labels move
  for (const auto& row : rows) {
    if (row["model"] == "reference") {
      EXPECT_EQ(row["label_y"], row["accuracy"]);  // far from the others
    }
  }
  // The text layer draws label_y.
  const json& layers = panel(*data, "fidelity-size")["spec"]["layer"];
  EXPECT_EQ(layers[2]["encoding"]["y"]["field"], "label_y");
}

TEST(ReportFidelity, MarkupInLabelsAndIdsStaysText) {
  testing::ScratchDir dir;
  const fs::path run = dir.file("run");
  write_run(run);
  write_fidelity(run, fidelity_doc());
  auto data = report_data(run);
  ASSERT_TRUE(data) << data.error().message;
  const std::string page = render_report_html(*data);
  EXPECT_EQ(page.find("<script>window.__pwned"), std::string::npos);
  EXPECT_EQ(page.find("<img src=x"), std::string::npos);
  EXPECT_EQ(embedded_document(page), *data);
}

TEST(ReportFidelity, WithoutFidelityJsonEachPanelSaysSo) {
  testing::ScratchDir dir;
  const fs::path run = dir.file("run");
  write_run(run);
  auto data = report_data(run);
  ASSERT_TRUE(data) << data.error().message;
  ASSERT_EQ((*data)["figures"].size(), 5u);
  const std::string kl = panel(*data, "fidelity-kl")["spec"]["data"]["values"].dump();
  EXPECT_NE(kl.find("No fidelity.json in this run directory."), std::string::npos) << kl;
  EXPECT_NE(kl.find("--out RUN_DIR"), std::string::npos) << kl;
  for (const char* id : {"fidelity-flips", "fidelity-size"}) {
    const std::string text = panel(*data, id)["spec"]["data"]["values"].dump();
    EXPECT_NE(text.find("No fidelity.json"), std::string::npos) << id << text;
  }
}

TEST(ReportFidelity, UnreadableFidelityJsonIsAMessageNotAFailure) {
  testing::ScratchDir dir;
  const fs::path run = dir.file("run");
  write_run(run);
  testing::write_file((run / kFidelityFile).string(), "{\"format\": \"clinbench.fid");
  auto data = report_data(run);
  ASSERT_TRUE(data) << data.error().message;
  std::string text = panel(*data, "fidelity-kl")["spec"]["data"]["values"].dump();
  EXPECT_NE(text.find("not a JSON object"), std::string::npos) << text;

  testing::write_file((run / kFidelityFile).string(), "{\"format\": \"clinbench.sensitivity/1\"}");
  data = report_data(run);
  ASSERT_TRUE(data) << data.error().message;
  text = panel(*data, "fidelity-size")["spec"]["data"]["values"].dump();
  EXPECT_NE(text.find("format 'clinbench.sensitivity/1', expected 'clinbench.fidelity/1'"),
            std::string::npos)
      << text;
}

TEST(ReportFidelity, NoFlipsAndNoLabelsAreSaid) {
  testing::ScratchDir dir;
  const fs::path run = dir.file("run");
  write_run(run);
  json file = fidelity_doc();
  file["candidates"].erase(1);
  for (auto& it : file["candidates"][0]["items"]) it["answer"] = nullptr;
  for (const char* key : {"reference_accuracy", "candidate_accuracy"}) {
    file["candidates"][0]["summary"][key]["accuracy"] = nullptr;
    file["candidates"][0]["summary"][key]["interval"] = nullptr;
  }
  write_fidelity(run, file);
  auto data = report_data(run);
  ASSERT_TRUE(data) << data.error().message;
  const std::string flips = panel(*data, "fidelity-flips")["spec"]["data"]["values"].dump();
  EXPECT_NE(flips.find("No answer flips"), std::string::npos) << flips;
  EXPECT_NE(flips.find("quantize:q8: flip rate 0"), std::string::npos) << flips;
  const std::string size = panel(*data, "fidelity-size")["spec"]["data"]["values"].dump();
  EXPECT_NE(size.find("no measured item is labeled"), std::string::npos) << size;
}

TEST(ReportFidelity, AFidelityDirectoryAloneIsNoRunAndSaysWhere) {
  testing::ScratchDir dir;
  const fs::path out = dir.file("fid");
  fs::create_directories(out);
  write_fidelity(out, fidelity_doc());
  auto data = report_data(out);
  ASSERT_FALSE(data);
  EXPECT_EQ(data.error().code, ErrorCode::kNotFound);
  EXPECT_NE(data.error().message.find("no run.db"), std::string::npos) << data.error().message;
  EXPECT_NE(data.error().message.find("clinbench fidelity --out"), std::string::npos)
      << data.error().message;
  EXPECT_FALSE(fs::exists(out / "run.db"));
}

}  // namespace
}  // namespace clinbench
