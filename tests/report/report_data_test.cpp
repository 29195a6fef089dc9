// The report's data document and page, on run directories written through the RunStore API
// (no model): the numbers are results.json's, escaping holds, every panel has data or says why
// not, the comparison uses stats.h, and missing renderers are reported without failing the page.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>

#include "clinbench/report.h"
#include "clinbench/results.h"
#include "clinbench/stats.h"
#include "clinbench/store.h"
#include "report/html.h"
#include "report/panels.h"
#include "report/report_test_util.h"
#include "report/run_view.h"
#include "test_util.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kEvil =
    "</script><script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">";

ItemRecord item(const std::string& model, const std::string& dataset, const std::string& split,
                int i, std::optional<bool> correct, const std::string& type = "multi_choice") {
  ItemRecord r;
  r.model = model;
  r.dataset = dataset;
  r.item_id = fmt::format("{}-{:03d}", split, i);
  r.split = split;
  r.question_type = type;
  r.scoring = "generate";
  r.prompt_tokens = 50 + i;
  r.output_tokens = {10 + i};
  r.reasoning_chars = 40 + i;
  r.reasoning_tokens = 10 + i;
  r.ttft_ms = 5.0;
  r.prefill_ms = 7.0;
  r.decode_ms = 20.0;
  r.tokens_per_s = 500.0;
  r.energy_j = 0.5 + 0.25 * i;
  r.choice = type == "open_ended" ? "NOTAVALUE" : "A";
  r.prediction = "A";
  if (correct) {
    r.correct_answer = *correct ? "A" : "B";
    if (type != "open_ended") r.correct = correct;
  }
  r.extraction_rule = "grammar";
  r.trace = json::array({{{"role", "user"}, {"content", "Q?"}},
                         {{"role", "assistant"}, {"content", "Answer: A"}}})
                .dump();
  return r;
}

std::string attempt_log(const std::string& strategy) {
  return json{
      {"format", "clinbench.attempt_log/1"},
      {"succeeded", 1},
      {"strategy", strategy},
      {"attempts",
       json::array({{{"strategy", "native"},
                     {"outcome", "skipped"},
                     {"reason", "plan exceeds the host budget"}},
                    {{"strategy", strategy},
                     {"outcome", "ok"},
                     {"reason", ""},
                     {"peak_rss_bytes", 52428800},
                     {"peak_device_bytes", nullptr},
                     {"projected", {{"host", {{"total", 104857600}}}, {"device", {{"total", 0}}}}},
                     {"init_ms", 123.5}}})}}
      .dump();
}

// Two models; dataset "cure" with a labeled val split and an unlabeled test split; dataset
// "both" with labeled val and test splits (a generalization gap). One reply carries markup.
void write_run(const fs::path& dir, const std::string& second_model = "model-b", bool flip = false,
               double energy_scale = 1.0) {
  auto store = RunStore::open(dir);
  ASSERT_TRUE(store) << store.error().message;
  for (const auto& m : {std::string("model-a"), second_model}) {
    ASSERT_TRUE(store->put_model(
        {m, "/models/m.gguf", "abc", "quantize:q8", attempt_log("quantize:q8"), ""}));
    for (int i = 0; i < 8; ++i) {
      const bool right = (i % 3 != 0) != (flip && m != "model-a" && i < 4);
      ItemRecord r = item(m, "cure", "val", i, right);
      if (r.energy_j) *r.energy_j *= energy_scale;
      if (i == 2) r.prediction = kEvil;
      if (i == 3) r.trace = json::array({{{"role", "assistant"}, {"content", kEvil}}}).dump();
      ASSERT_TRUE(store->record_item(r));
      ASSERT_TRUE(store->record_item(item(m, "cure", "test", i, std::nullopt)));
      ASSERT_TRUE(store->record_item(item(m, "both", "val", i, i % 2 == 0)));
      ASSERT_TRUE(store->record_item(item(m, "both", "test", i, i % 4 == 0)));
    }
    ASSERT_TRUE(store->record_item(item(m, "cure", "val", 99, true, "open_ended")));
  }
  ASSERT_TRUE(store->set_metadata("datasets", {{"cure",
                                                {{"rows", 18},
                                                 {"items", 17},
                                                 {"selected", 17},
                                                 {"skipped_rows", 1},
                                                 {"issues", {"line 4: bad"}}}},
                                               {"both",
                                                {{"rows", 16},
                                                 {"items", 16},
                                                 {"selected", 16},
                                                 {"skipped_rows", 0},
                                                 {"issues", json::array()}}}}));
}

using report_test::panel;

TEST(ReportData, FigureOneHasNinePanelsAndEveryPanelHasData) {
  testing::ScratchDir dir;
  write_run(dir.file("run"));
  auto doc = report_data(dir.file("run"));
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ((*doc)["format"], "clinbench.report/1");
  ASSERT_EQ((*doc)["figures"].size(), 5u);  // figure 5: fidelity, a message without fidelity.json
  EXPECT_EQ((*doc)["figures"][0]["id"], "figure1");
  EXPECT_EQ((*doc)["figures"][0]["panels"].size(), 9u);
  EXPECT_EQ((*doc)["figures"][0]["columns"], 3);
  for (const auto& f : (*doc)["figures"]) {
    for (const auto& p : f["panels"]) {
      ASSERT_TRUE(p["spec"]["data"]["values"].is_array()) << p["id"];
      EXPECT_FALSE(p["spec"]["data"]["values"].empty()) << p["id"];
      EXPECT_FALSE(p["description"].get<std::string>().empty()) << p["id"];
    }
  }
  EXPECT_EQ((*doc)["items"].size(), 2u * (4 * 8 + 1));
}

TEST(ReportData, MemoryPanelPutsThePlanBesideThePeak) {
  testing::ScratchDir dir;
  write_run(dir.file("run"));
  auto doc = report_data(dir.file("run"));
  ASSERT_TRUE(doc) << doc.error().message;
  std::map<std::string, json> host_planned, host_peak;
  int device_planned = 0;
  for (const auto& r : panel(*doc, "memory")["spec"]["data"]["values"]) {
    if (r["measure"] == "host planned") host_planned[r["model"]] = r["bytes"];
    if (r["measure"] == "host peak") host_peak[r["model"]] = r["bytes"];
    if (r["measure"] == "device planned") ++device_planned;
  }
  ASSERT_EQ(host_planned.size(), 2u);
  for (const auto& [model, bytes] : host_planned) {
    EXPECT_EQ(bytes, 104857600) << model;
    EXPECT_EQ(host_peak[model], 52428800) << model;
  }
  EXPECT_EQ(device_planned, 0);  // a zero device plan is no bar
}

TEST(ReportData, AccuracyPanelCarriesResultsJsonRowsAndNoLabelsNeverZero) {
  testing::ScratchDir dir;
  write_run(dir.file("run"));
  auto doc = report_data(dir.file("run"));
  ASSERT_TRUE(doc);
  RunStore store = std::move(*RunStore::open(dir.file("run")));
  const json results = results_json(*store.items());
  const json& values = panel(*doc, "accuracy")["spec"]["data"]["values"];
  std::size_t all_rows = 0;
  for (const auto& a : results["accuracy"]) {
    if (a["question_type"] != "all") continue;
    ++all_rows;
    bool found = false;
    for (const auto& v : values) {
      if (v["model"] == a["model"] && v["dataset"] == a["dataset"] && v["split"] == a["split"]) {
        found = true;
        EXPECT_EQ(v["accuracy"], a["accuracy"]);
        EXPECT_EQ(v["ci_low"], a["ci_low"]);
        EXPECT_EQ(v["ci_high"], a["ci_high"]);
        EXPECT_EQ(v["note"], a["note"]);
      }
    }
    EXPECT_TRUE(found) << a.dump();
  }
  EXPECT_EQ(values.size(), all_rows);
  for (const auto& v : values) {
    if (v["dataset"] == "cure" && v["split"] == "test") {
      EXPECT_TRUE(v["accuracy"].is_null());
      EXPECT_EQ(v["note"], "no labels");
    }
  }
}

TEST(ReportData, GapShownOnlyWhereBothSplitsAreLabeled) {
  testing::ScratchDir dir;
  write_run(dir.file("run"));
  auto doc = report_data(dir.file("run"));
  ASSERT_TRUE(doc);
  const json& values = panel(*doc, "gap")["spec"]["data"]["values"];
  int with_gap = 0, with_note = 0;
  for (const auto& v : values) {
    if (v["dataset"] == "both") {
      ASSERT_FALSE(v["gap"].is_null());
      EXPECT_DOUBLE_EQ(v["test_minus_val"].get<double>(), -v["gap"].get<double>());
      ++with_gap;
    } else {
      EXPECT_TRUE(v["test_minus_val"].is_null());
      EXPECT_EQ(v["note"], "split test has no labels");
      ++with_note;
    }
  }
  EXPECT_EQ(with_gap, 2);
  EXPECT_EQ(with_note, 2);
}

TEST(ReportData, GapPanelSaysWhyWhenNoDatasetHasBothSplits) {
  testing::ScratchDir dir;
  {
    auto store = RunStore::open(dir.file("run"));
    ASSERT_TRUE(store);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(store->record_item(item("m", "demo-val", "val", i, true)));
      ASSERT_TRUE(store->record_item(item("m", "demo-test", "test", i, std::nullopt)));
    }
  }
  auto doc = report_data(dir.file("run"));
  ASSERT_TRUE(doc);
  const std::string text = panel(*doc, "gap")["spec"]["data"]["values"].dump();
  EXPECT_NE(text.find("no dataset was evaluated on both a 'val' and a 'test' split"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("demo-test · test"), std::string::npos) << text;
  // A model without attempt log is still in the strategies' and memory panels' axes.
  EXPECT_NE(panel(*doc, "memory")["spec"].dump().find("No model is recorded"), std::string::npos);
}

TEST(ReportData, ReasoningBinsCountEveryItemOnce) {
  testing::ScratchDir dir;
  write_run(dir.file("run"));
  auto doc = report_data(dir.file("run"));
  ASSERT_TRUE(doc);
  std::map<std::string, int64_t> per_model;
  for (const auto& v : panel(*doc, "reasoning-length")["spec"]["data"]["values"]) {
    per_model[v["model"].get<std::string>()] += v["items"].get<int64_t>();
    EXPECT_LT(v["bin_start"].get<int64_t>(), v["bin_end"].get<int64_t>());
  }
  EXPECT_EQ(per_model["model-a"], 33);
  EXPECT_EQ(per_model["model-b"], 33);
}

TEST(ReportData, MissingRunDatabaseIsAnErrorAndCreatesNothing) {
  testing::ScratchDir dir;
  auto doc = report_data(dir.file("nowhere"));
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().code, ErrorCode::kNotFound);
  EXPECT_NE(doc.error().message.find("nowhere"), std::string::npos) << doc.error().message;
  EXPECT_FALSE(fs::exists(dir.file("nowhere")));
}

TEST(ReportData, ARunStillGoingIsReportedSoFarAndSaysSo) {
  testing::ScratchDir dir;
  write_run(dir.file("run"));
  auto done = report_data(dir.file("run"));
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_TRUE(done->at("notices").empty());

  auto writer = RunStore::open(dir.file("run"));  // the run goes on
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->record_item(item("model-a", "cure", "val", 50, true)));
  auto doc = report_data(dir.file("run"));
  ASSERT_TRUE(doc) << doc.error().message;
  ASSERT_EQ(doc->at("notices").size(), 1u);
  const std::string notice = doc->at("notices")[0];
  EXPECT_NE(notice.find("still going"), std::string::npos) << notice;
  EXPECT_NE(notice.find(std::to_string(getpid())), std::string::npos) << notice;
  EXPECT_NE(notice.find(std::to_string(done->at("items").size() + 1) + " item(s)"),
            std::string::npos)
      << notice;
  EXPECT_EQ(doc->at("items").size(), done->at("items").size() + 1);
  // The writer goes on undisturbed.
  EXPECT_TRUE(writer->record_item(item("model-a", "cure", "val", 51, true)));
}

TEST(ReportData, LongModelNamesKeepThePartThatTellsThemApart) {
  const std::vector<std::string> shortn = {"llama-q4", "llama-f16"};
  EXPECT_EQ(report::short_model_labels(shortn), shortn);
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) {
    names.push_back(
        fmt::format("hospital-finetuned-llama-3.1-8b-{}-q4_k_m-calibrated-on-notes", i));
  }
  const auto labels = report::short_model_labels(names);
  ASSERT_EQ(labels.size(), names.size());
  std::set<std::string> distinct(labels.begin(), labels.end());
  EXPECT_EQ(distinct.size(), names.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    EXPECT_LE(labels[i].size(), 30u) << labels[i];
    EXPECT_NE(labels[i].find(fmt::format("-{}-", i)), std::string::npos) << labels[i];
  }
  // One long name alone: cut in the middle, head and tail kept, valid UTF-8 boundaries.
  const auto one = report::short_model_labels({std::string(40, 'a') + "é" + std::string(40, 'b')});
  EXPECT_LT(one[0].size(), 60u);
  EXPECT_EQ(one[0].rfind("aaaa", 0), 0u);
}

TEST(ReportData, PanelIdsAreUniqueAndBelongToAFigure) {
  std::set<std::string> ids, figures;
  for (const auto& f : report::dashboard_figures()) figures.insert(f.id);
  for (const auto& p : report::dashboard_panels()) {
    EXPECT_TRUE(ids.insert(p.id).second) << p.id;
    EXPECT_TRUE(figures.count(p.figure)) << p.id;
  }
}

// --- the page ---------------------------------------------------------------------------------

TEST(ReportHtml, JsonForScriptHasNoMarkup) {
  const json data = {{"s", kEvil}, {"t", "a & b > c <!-- d"}};
  const std::string text = report::json_for_script(data);
  EXPECT_EQ(text.find('<'), std::string::npos);
  EXPECT_EQ(text.find('>'), std::string::npos);
  EXPECT_EQ(text.find('&'), std::string::npos);
  EXPECT_EQ(json::parse(text), data);
}

TEST(ReportHtml, ScriptSafeBreaksClosingTags) {
  EXPECT_EQ(report::script_safe("a='</script>';b='</SCRIPT >';c='</div>'"),
            "a='<\\/script>';b='<\\/SCRIPT >';c='</div>'");
}

TEST(ReportHtml, PageEmbedsTheDocumentAndOnlyItsOwnScripts) {
  testing::ScratchDir dir;
  write_run(dir.file("run"), "<b>model</b> with a very long name of many words");
  auto doc = report_data(dir.file("run"));
  ASSERT_TRUE(doc);
  const std::string page = render_report_html(*doc);
  // The data element, vega, vega-lite, vega-embed, the page's script: five <script> tags.
  const std::regex open_tag("<script[ >]", std::regex::icase);
  EXPECT_EQ(std::distance(std::sregex_iterator(page.begin(), page.end(), open_tag),
                          std::sregex_iterator()),
            5);
  EXPECT_EQ(page.find("</script><script>window.__pwned"), std::string::npos);
  EXPECT_EQ(page.find("<img src=x"), std::string::npos);
  EXPECT_EQ(page.find("<b>model</b>"), std::string::npos);
  // The embedded document parses back to the same data.
  const std::string start_tag = "<script type=\"application/json\" id=\"clinbench-data\">";
  const auto start = page.find(start_tag);
  ASSERT_NE(start, std::string::npos);
  const auto end = page.find("</script>", start);
  const json back =
      json::parse(page.substr(start + start_tag.size(), end - start - start_tag.size()));
  EXPECT_EQ(back, *doc);
  // No address the page could fetch: every http(s) URL in it is inert text (schema ids, licence
  // comments), and the policy allows no source but the page's own scripts.
  EXPECT_NE(page.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(page.find("connect-src 'none'"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_EQ(page.find("src=\"http"), std::string::npos);
}

TEST(ReportHtml, MissingRenderersAreReportedAndThePageIsWritten) {
  testing::ScratchDir dir;
  write_run(dir.file("run"));
  ReportOptions o;
  o.node = dir.file("no-such-node");
  o.output = dir.file("page.html");
  auto out = write_report(dir.file("run"), o);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_TRUE(fs::exists(dir.file("page.html")));
  EXPECT_TRUE(out->files.empty());
  ASSERT_EQ(out->missing.size(), 10u);  // five figures, SVG and PNG
  EXPECT_NE(out->missing[0].find("figure1.svg"), std::string::npos) << out->missing[0];
  EXPECT_NE(out->missing[0].find("no-such-node"), std::string::npos) << out->missing[0];
  EXPECT_NE(out->missing[5].find(".png"), std::string::npos) << out->missing[5];
}

TEST(ReportHtml, PageInAMissingDirectoryIsAnErrorNamingIt) {
  testing::ScratchDir dir;
  write_run(dir.file("run"));
  ReportOptions o;
  o.output = dir.file("no/such/dir/page.html");
  o.figures = false;
  auto out = write_report(dir.file("run"), o);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, ErrorCode::kNotFound);
  EXPECT_NE(out.error().message.find("no/such/dir"), std::string::npos) << out.error().message;
}

TEST(ReportData, EnergyPanelsAreTheUsageRows) {
  testing::ScratchDir dir;
  write_run(dir.file("run"));
  auto doc = report_data(dir.file("run"));
  ASSERT_TRUE(doc) << doc.error().message;
  const auto results = report::load_run(dir.file("run"))->results_json;
  const json& bars = panel(*doc, "average-energy")["spec"]["data"]["values"];
  ASSERT_EQ(bars.size(), results["usage"].size());
  for (const auto& b : bars) {
    for (const auto& u : results["usage"]) {
      if (u["model"] != b["model"] || u["dataset"] != b["dataset"]) continue;
      EXPECT_DOUBLE_EQ(b["avg_energy_j"].get<double>(),
                       u["energy_j"].get<double>() / u["items"].get<double>());
      EXPECT_EQ(b["joules_per_correct"], u["joules_per_correct"]);
    }
  }
  // Every point measured: Figure 2 offers the energy axis.
  const json& fig2 = panel(*doc, "efficiency-labeled")["spec"];
  ASSERT_TRUE(fig2.contains("params")) << fig2.dump();
  EXPECT_EQ(fig2["params"][0]["name"], "x_axis");
  EXPECT_EQ(fig2["params"][0]["bind"]["options"], json({"tokens", "energy"}));
  for (const auto& v : fig2["data"]["values"]) EXPECT_TRUE(v["energy_j_per_item"].is_number());
}

TEST(ReportData, WithoutEnergyFigureFourSaysWhyAndFigureTwoHasNoEnergyAxis) {
  testing::ScratchDir dir;
  {
    auto store = RunStore::open(dir.file("run"));
    ASSERT_TRUE(store) << store.error().message;
    for (int i = 0; i < 4; ++i) {
      ItemRecord r = item("m", "cure", "val", i, i % 2 == 0);
      r.energy_j.reset();
      ASSERT_TRUE(store->record_item(r));
    }
    ASSERT_TRUE(store->set_metadata(
        "energy",
        {{"meters", json::array()},
         {"unavailable", json::array({{{"source", "rapl"}, {"reason", "no powercap here"}}})},
         {"energy_j", nullptr}}));
  }
  auto doc = report_data(dir.file("run"));
  ASSERT_TRUE(doc) << doc.error().message;
  const std::string text = panel(*doc, "average-energy")["spec"].dump();
  EXPECT_NE(text.find("rapl: no powercap here"), std::string::npos) << text;
  EXPECT_FALSE(panel(*doc, "efficiency-labeled")["spec"].contains("params"));
}

// --- compare ----------------------------------------------------------------------------------

TEST(ReportCompare, PairedTestsAreStatsOnTheSameItems) {
  testing::ScratchDir dir;
  write_run(dir.file("a"));
  write_run(dir.file("b"), "model-b", /*flip=*/true, /*energy_scale=*/2.0);
  auto doc = compare_data(dir.file("a"), dir.file("b"));
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ((*doc)["kind"], "compare");
  RunStore sa = std::move(*RunStore::open(dir.file("a")));
  auto ia = *sa.items({"model-b", "cure"});
  RunStore sb = std::move(*RunStore::open(dir.file("b")));
  auto ib = *sb.items({"model-b", "cure"});
  ASSERT_EQ(ia.size(), ib.size());
  // The comparison pairs items in (dataset, item_id) order.
  const auto by_id = [](const ItemRecord& x, const ItemRecord& y) { return x.item_id < y.item_id; };
  std::sort(ia.begin(), ia.end(), by_id);
  std::sort(ib.begin(), ib.end(), by_id);
  std::vector<std::optional<bool>> ca, cb;
  std::vector<std::optional<double>> ea, eb;
  for (std::size_t i = 0; i < ia.size(); ++i) {
    ASSERT_EQ(ia[i].item_id, ib[i].item_id);
    ca.push_back(ia[i].correct);
    cb.push_back(ib[i].correct);
    ea.push_back(ia[i].energy_j);
    eb.push_back(ib[i].energy_j);
  }
  const auto m = *mcnemar_exact(ca, cb);
  const auto d = *paired_bootstrap(ca, cb);
  const auto de = *paired_mean_bootstrap(ea, eb);
  ASSERT_GT(m.only_a + m.only_b, 0u);
  bool found = false;
  for (const auto& r : (*doc)["comparisons"]) {
    if (r["model_a"] != "model-b" || r["dataset"] != "cure") continue;
    found = true;
    EXPECT_EQ(r["pairs"], m.pairs);
    EXPECT_EQ(r["only_a"], m.only_a);
    EXPECT_EQ(r["only_b"], m.only_b);
    EXPECT_DOUBLE_EQ(r["mcnemar_p"].get<double>(), m.p_value);
    EXPECT_DOUBLE_EQ(r["difference"].get<double>(), d.difference);
    EXPECT_DOUBLE_EQ(r["ci_low"].get<double>(), d.interval.low);
    EXPECT_DOUBLE_EQ(r["ci_high"].get<double>(), d.interval.high);
    // Energy per item on the same items: run B's items cost twice as much.
    EXPECT_EQ(r["energy_pairs"], de.pairs);
    EXPECT_DOUBLE_EQ(r["energy_a_j"].get<double>(), de.mean_a);
    EXPECT_DOUBLE_EQ(r["energy_b_j"].get<double>(), de.mean_b);
    EXPECT_DOUBLE_EQ(r["energy_difference_j"].get<double>(), de.difference);
    EXPECT_LT(de.difference, 0.0);
    EXPECT_DOUBLE_EQ(r["energy_ci_low"].get<double>(), de.interval.low);
    EXPECT_DOUBLE_EQ(r["energy_ci_high"].get<double>(), de.interval.high);
  }
  EXPECT_TRUE(found);
}

TEST(ReportCompare, RunsWithoutACommonModelAreRefused) {
  testing::ScratchDir dir;
  write_run(dir.file("a"));
  write_run(dir.file("b"), "model-c");
  {
    auto s = RunStore::open(dir.file("c"));
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->record_item(item("other", "cure", "val", 1, true)));
    ASSERT_TRUE(s->record_item(item("other2", "cure", "val", 1, true)));
  }
  auto doc = compare_data(dir.file("a"), dir.file("c"));
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(doc.error().message.find("share no model"), std::string::npos) << doc.error().message;
  // Same names in part: model-a is paired, model-b and model-c are not.
  auto ab = compare_data(dir.file("a"), dir.file("b"));
  ASSERT_TRUE(ab);
  for (const auto& r : (*ab)["comparisons"]) EXPECT_EQ(r["model_a"], "model-a");
}

}  // namespace
}  // namespace clinbench
