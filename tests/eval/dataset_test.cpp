// Dataset readers and the dataset check, on the fixtures in tests/data/datasets/ and, where the
// machine has them, the real copies in ../shared/data/.
#include "clinbench/dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "eval/csv.h"

namespace clinbench {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
  return std::string(CLINBENCH_SOURCE_DIR) + "/tests/data/datasets/" + name;
}

fs::path shared_data(const std::string& name) {
  return fs::path(CLINBENCH_SHARED_DIR) / "data" / name;
}

// ---------------------------------------------------------------------------------------------
// CURE-Bench
// ---------------------------------------------------------------------------------------------

TEST(DatasetCureBench, ReadsAllThreeQuestionTypes) {
  Result<Dataset> d = read_dataset(fixture("curebench_valset.jsonl"));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->format, DatasetFormat::kCureBench);
  EXPECT_EQ(d->rows, 6u);
  ASSERT_EQ(d->items.size(), 6u);
  EXPECT_TRUE(d->issues.empty()) << d->issues.front().to_string();

  const Item& first = d->items[0];
  EXPECT_EQ(first.id, "cb-val-001");
  EXPECT_EQ(first.split, "val");  // from "valset" in the file name
  EXPECT_EQ(first.type, QuestionType::kMultiChoice);
  EXPECT_EQ(first.options.size(), 4u);
  EXPECT_EQ(first.options.at("B"), "Dexamethasone");
  EXPECT_EQ(first.answer, "B");
  EXPECT_EQ(first.source, fixture("curebench_valset.jsonl") + ":1");

  EXPECT_EQ(d->items[2].type, QuestionType::kOpenEndedMultiChoice);
  EXPECT_EQ(d->items[3].answer, "C");                                       // "c" normalized
  EXPECT_EQ(d->items[3].source, fixture("curebench_valset.jsonl") + ":5");  // after a blank line
  EXPECT_EQ(d->items[4].type, QuestionType::kOpenEnded);
  EXPECT_EQ(d->items[4].answer, "A");
  // open_ended: empty options allowed, a free-text answer is not a letter and is left out.
  EXPECT_TRUE(d->items[5].options.empty());
  EXPECT_FALSE(d->items[5].answer);
}

TEST(DatasetCureBench, TestSplitIsUnlabeled) {
  Result<Dataset> d = read_dataset(fixture("curebench_testset.jsonl"));
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d->items.size(), 4u);
  for (const Item& item : d->items) {
    EXPECT_EQ(item.split, "test");
    EXPECT_FALSE(item.answer);
  }
}

TEST(DatasetCureBench, BrokenRowsAreReportedAndValidRowsKept) {
  const std::string path = fixture("curebench_broken.jsonl");
  Result<Dataset> d = read_dataset(path);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->rows, 12u);
  ASSERT_EQ(d->items.size(), 2u);
  EXPECT_EQ(d->items[0].id, "ok-1");
  EXPECT_EQ(d->items[0].question, "Which electrolyte abnormality causes peaked T waves?");
  EXPECT_EQ(d->items[1].id, "ok-2");

  struct Expected {
    std::size_t line;
    RowProblem problem;
    const char* detail_part;
  };
  const std::vector<Expected> expected = {
      {2, RowProblem::kBadJson, "invalid JSON"},
      {3, RowProblem::kMissingField, "field 'question' is missing"},
      {4, RowProblem::kWrongType, "field 'id' is a number, expected a string"},
      {5, RowProblem::kEmptyOptions, "'options' is empty"},
      {6, RowProblem::kAnswerNotInOptions, "answer 'E' is not among the options A, B, C, D"},
      {7, RowProblem::kInvalidValue, "unknown question type 'true_false'"},
      {9, RowProblem::kDuplicateId, "duplicate id 'ok-1' (first at"},
      {10, RowProblem::kWrongType, "field 'options' is an array"},
      {11, RowProblem::kInvalidValue, "option key 'opt2' is not a single letter"},
      {12, RowProblem::kWrongType, "the line is an array, expected an object"},
  };
  ASSERT_EQ(d->issues.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const RowIssue& issue = d->issues[i];
    SCOPED_TRACE(issue.to_string());
    EXPECT_EQ(issue.path, path);
    EXPECT_EQ(issue.line, expected[i].line);
    EXPECT_EQ(issue.problem, expected[i].problem);
    EXPECT_NE(issue.detail.find(expected[i].detail_part), std::string::npos) << issue.detail;
    EXPECT_EQ(issue.to_string().rfind(path + ":" + std::to_string(expected[i].line) + ": ", 0), 0u);
  }
}

TEST(DatasetCureBench, StrictFailsOnTheFirstBrokenRow) {
  ReadOptions strict;
  strict.strict = true;
  Result<Dataset> d = read_dataset(fixture("curebench_broken.jsonl"), strict);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(d.error().message.find("curebench_broken.jsonl:2: invalid JSON"), std::string::npos)
      << d.error().message;
  EXPECT_TRUE(read_dataset(fixture("curebench_valset.jsonl"), strict));
}

TEST(DatasetCureBench, ParsesTextInMemory) {
  const std::string text =
      "\xEF\xBB\xBF{\"id\":\"x\",\"question_type\":\"multi_choice\",\"question\":\"Q?\","
      "\"options\":{\"a\":\"one\",\"b\":\"two\"},\"correct_answer\":\" b \"}\r\n"
      "not json at all\r\n";
  Result<Dataset> d = parse_dataset(text, "mem/dev_questions.jsonl");
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d->items.size(), 1u);
  EXPECT_EQ(d->items[0].options.at("A"), "one");  // keys upper-cased
  EXPECT_EQ(d->items[0].answer, "B");
  EXPECT_EQ(d->items[0].split, "dev");
  ASSERT_EQ(d->issues.size(), 1u);
  EXPECT_EQ(d->issues[0].line, 2u);
  EXPECT_EQ(d->issues[0].problem, RowProblem::kBadJson);
}

// max_tokens: an item's own reply budget, a positive integer when present.
TEST(DatasetCureBench, MaxTokensIsAPositiveIntegerWhenPresent) {
  const std::string row = R"({"id":"%s","question_type":"open_ended","question":"Q?","options":{})";
  auto line = [&](const std::string& id, const std::string& extra) {
    std::string r = row;
    r.replace(r.find("%s"), 2, id);
    return r + extra + "}\n";
  };
  const std::string text = line("a", R"(,"max_tokens":37)") + line("b", "") +
                           line("c", R"(,"max_tokens":null)") + line("d", R"(,"max_tokens":0)") +
                           line("e", R"(,"max_tokens":"long")") + line("f", R"(,"max_tokens":2.5)");
  Result<Dataset> d = parse_dataset(text, "mem/val.jsonl");
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d->items.size(), 3u);
  EXPECT_EQ(d->items[0].max_tokens, 37);
  EXPECT_EQ(d->items[1].max_tokens, std::nullopt);
  EXPECT_EQ(d->items[2].max_tokens, std::nullopt);
  ASSERT_EQ(d->issues.size(), 3u);
  EXPECT_EQ(d->issues[0].problem, RowProblem::kInvalidValue);
  EXPECT_NE(d->issues[0].detail.find("'max_tokens' is 0"), std::string::npos)
      << d->issues[0].detail;
  EXPECT_EQ(d->issues[1].problem, RowProblem::kWrongType);
  EXPECT_EQ(d->issues[2].problem, RowProblem::kWrongType);
}

// ---------------------------------------------------------------------------------------------
// MedQA / MedMCQA
// ---------------------------------------------------------------------------------------------

TEST(DatasetMedQa, IdsFromStemAndLine) {
  Result<Dataset> d = read_dataset(fixture("medqa_test.jsonl"));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->format, DatasetFormat::kMedQa);
  ASSERT_EQ(d->items.size(), 3u);
  EXPECT_EQ(d->items[0].id, "medqa_test-1");
  EXPECT_EQ(d->items[0].answer, "A");
  EXPECT_EQ(d->items[0].split, "test");
  EXPECT_EQ(d->items[0].type, QuestionType::kMultiChoice);
  EXPECT_EQ(d->items[1].id, "medqa_test-2");
  EXPECT_EQ(d->items[1].options.at("B"), "Radial");
  EXPECT_EQ(d->items[2].id, "medqa_test-3");
  EXPECT_FALSE(d->items[2].answer);
  ASSERT_EQ(d->issues.size(), 1u);
  EXPECT_EQ(d->issues[0].line, 4u);
  EXPECT_EQ(d->issues[0].problem, RowProblem::kAnswerNotInOptions);
}

// ---------------------------------------------------------------------------------------------
// MMLU CSV
// ---------------------------------------------------------------------------------------------

TEST(DatasetMmlu, QuotingNewlinesAndBadRows) {
  const std::string path = fixture("mmlu/val/anatomy_val.csv");
  Result<Dataset> d = read_dataset(path);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->format, DatasetFormat::kMmlu);
  EXPECT_EQ(d->rows, 6u);
  ASSERT_EQ(d->items.size(), 4u);

  EXPECT_EQ(d->items[0].id, "anatomy_val-1");
  EXPECT_EQ(d->items[0].options.at("B"), "Sphenoid");
  EXPECT_EQ(d->items[0].answer, "B");  // CRLF line end not in the answer
  EXPECT_EQ(d->items[0].split, "val");

  EXPECT_EQ(d->items[1].question,
            "Which statement about the \"safe\" triangle, used for chest drains, is true?");
  EXPECT_EQ(d->items[1].options.at("A"),
            "It is bounded by the pectoralis major, latissimus dorsi and the 5th intercostal "
            "space");

  EXPECT_EQ(d->items[2].id, "anatomy_val-3");
  EXPECT_EQ(d->items[2].question, "A question over\ntwo lines, with a comma");
  EXPECT_EQ(d->items[2].source, path + ":3");
  EXPECT_EQ(d->items[2].answer, "D");

  EXPECT_EQ(d->items[3].id, "anatomy_val-6");  // row 6, on line 7
  EXPECT_EQ(d->items[3].source, path + ":7");
  EXPECT_FALSE(d->items[3].answer);

  ASSERT_EQ(d->issues.size(), 2u);
  EXPECT_EQ(d->issues[0].line, 5u);
  EXPECT_EQ(d->issues[0].problem, RowProblem::kWrongColumnCount);
  EXPECT_EQ(d->issues[0].detail, "5 fields, expected 6 (question, A, B, C, D, answer)");
  EXPECT_EQ(d->issues[1].line, 6u);
  EXPECT_EQ(d->issues[1].problem, RowProblem::kAnswerNotInOptions);
}

TEST(DatasetMmlu, UnterminatedQuoteIsReported) {
  Result<Dataset> d = read_dataset(fixture("mmlu/test/anatomy_test.csv"));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_TRUE(d->items.empty());
  ASSERT_EQ(d->issues.size(), 1u);
  EXPECT_EQ(d->issues[0].problem, RowProblem::kBadCsv);
  EXPECT_EQ(d->issues[0].line, 1u);
}

TEST(DatasetMmlu, DirectoryReadsEverySplit) {
  Result<Dataset> d = read_dataset(fixture("mmlu"));
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->format, DatasetFormat::kMmlu);
  EXPECT_EQ(d->items.size(), 4u);
  EXPECT_EQ(d->issues.size(), 3u);
  // Sorted paths: test/ before val/.
  EXPECT_NE(d->issues[0].path.find("mmlu/test/anatomy_test.csv"), std::string::npos);
}

TEST(DatasetCsv, Rfc4180) {
  csv::Parsed p = csv::parse("a,\"b,c\",\"d\"\"e\"\r\n\r\n\"multi\nline\",,x\nlast,row");
  ASSERT_FALSE(p.unterminated_at);
  ASSERT_EQ(p.records.size(), 3u);
  EXPECT_EQ(p.records[0].fields, (std::vector<std::string>{"a", "b,c", "d\"e"}));
  EXPECT_EQ(p.records[0].line, 1u);
  EXPECT_EQ(p.records[1].fields, (std::vector<std::string>{"multi\nline", "", "x"}));
  EXPECT_EQ(p.records[1].line, 3u);
  EXPECT_EQ(p.records[2].fields, (std::vector<std::string>{"last", "row"}));
  EXPECT_EQ(p.records[2].line, 5u);

  // Python's csv module keeps a stray quote inside an unquoted field literally.
  csv::Parsed lenient = csv::parse("5\" tall,\"x\"y,\"\"\n");
  ASSERT_EQ(lenient.records.size(), 1u);
  EXPECT_EQ(lenient.records[0].fields, (std::vector<std::string>{"5\" tall", "xy", ""}));

  csv::Parsed open = csv::parse("ok,row\n\"never closed,\nmore");
  EXPECT_EQ(open.records.size(), 1u);
  EXPECT_EQ(open.unterminated_at, 2u);
}

// ---------------------------------------------------------------------------------------------
// PubMedQA
// ---------------------------------------------------------------------------------------------

TEST(DatasetPubMedQa, ContextsInQuestionAndYesNoMaybe) {
  const std::string path = fixture("pubmedqa_sample.json");
  Result<Dataset> d = read_dataset(path);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->format, DatasetFormat::kPubMedQa);
  EXPECT_EQ(d->rows, 6u);
  ASSERT_EQ(d->items.size(), 4u);

  const Item& first = d->items[0];  // file order, not key order
  EXPECT_EQ(first.id, "21645374");
  EXPECT_EQ(first.source, path + ":2");
  EXPECT_EQ(first.question,
            "Context:\nBACKGROUND: Programmed cell death (PCD) is the regulated death of cells "
            "within an organism.\nRESULTS: Mitochondrial dynamics were delineated into four "
            "categories.\n\nQuestion: Do mitochondria play a role in remodelling lace plant "
            "leaves during programmed cell death?");
  const std::map<std::string, std::string> options = {{"A", "yes"}, {"B", "no"}, {"C", "maybe"}};
  EXPECT_EQ(first.options, options);
  EXPECT_EQ(first.answer, "A");
  EXPECT_EQ(d->items[1].answer, "B");
  EXPECT_EQ(d->items[1].question.rfind("Context:\nAssessment of visual acuity", 0), 0u);
  EXPECT_EQ(d->items[2].answer, "C");
  EXPECT_EQ(d->items[2].question.rfind("Question: Syncope", 0), 0u);  // no contexts
  EXPECT_FALSE(d->items[3].answer);

  ASSERT_EQ(d->issues.size(), 2u);
  EXPECT_EQ(d->issues[0].line, 25u);
  EXPECT_EQ(d->issues[0].problem, RowProblem::kAnswerNotInOptions);
  EXPECT_EQ(d->issues[1].line, 30u);
  EXPECT_EQ(d->issues[1].problem, RowProblem::kMissingField);
}

TEST(DatasetPubMedQa, InvalidDocumentIsAnErrorWithLine) {
  Result<Dataset> d = parse_dataset("{\n  \"1\": {\"QUESTION\": \"q\",\n  oops\n}", "x.json");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kCorrupt);
  EXPECT_EQ(d.error().message.rfind("x.json:3: invalid JSON", 0), 0u) << d.error().message;
  Result<Dataset> list = parse_dataset("[1, 2]", "x.json", {DatasetFormat::kPubMedQa, "", false});
  ASSERT_FALSE(list);
  EXPECT_NE(list.error().message.find("one JSON object keyed by PMID"), std::string::npos);
}

TEST(DatasetPubMedQa, AnswerKeyIsNotQuestions) {
  Result<Dataset> d =
      parse_dataset("{\"123\": \"yes\", \"456\": \"no\"}", "test_ground_truth.json");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(d.error().message.find("answer key"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Formats, splits, files
// ---------------------------------------------------------------------------------------------

TEST(DatasetFormats, DetectedFromExtensionAndContent) {
  const std::string cure = "{\"id\":\"1\",\"question_type\":\"open_ended\",\"question\":\"q\"}\n";
  const std::string medqa = "{\"question\":\"q\",\"options\":{\"A\":\"x\"},\"answer_idx\":\"A\"}\n";
  EXPECT_EQ(detect_format(cure, "a.jsonl"), DatasetFormat::kCureBench);
  EXPECT_EQ(detect_format(medqa, "a.jsonl"), DatasetFormat::kMedQa);
  EXPECT_EQ(detect_format(medqa, "a.json"), DatasetFormat::kMedQa);  // JSONL named .json
  EXPECT_EQ(detect_format("{\n \"123\": {}\n}", "a.json"), DatasetFormat::kPubMedQa);
  EXPECT_EQ(detect_format("q,a,b,c,d,A\n", "a.csv"), DatasetFormat::kMmlu);
  EXPECT_EQ(detect_format("q,a,b,c,d,A\n", "a.txt"), DatasetFormat::kMmlu);
  EXPECT_EQ(detect_format(cure, "a.txt"), DatasetFormat::kCureBench);
  Result<DatasetFormat> unknown = detect_format("hello", "a.txt");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kUnsupported);

  for (DatasetFormat f : {DatasetFormat::kAuto, DatasetFormat::kCureBench, DatasetFormat::kMedQa,
                          DatasetFormat::kMmlu, DatasetFormat::kPubMedQa}) {
    EXPECT_EQ(dataset_format_from_string(to_string(f)), f);
  }
  EXPECT_EQ(dataset_format_from_string("MedMCQA"), DatasetFormat::kMedQa);
  EXPECT_FALSE(dataset_format_from_string("csv"));
}

TEST(DatasetFormats, OverrideAndSplitOption) {
  ReadOptions options;
  options.format = DatasetFormat::kMedQa;
  options.split = "holdout";
  const std::string medqa = "{\"question\":\"q\",\"options\":{\"A\":\"x\"},\"answer_idx\":\"A\"}\n";
  Result<Dataset> d = parse_dataset(medqa, "data/questions.txt", options);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->format, DatasetFormat::kMedQa);
  ASSERT_EQ(d->items.size(), 1u);
  EXPECT_EQ(d->items[0].split, "holdout");
  EXPECT_EQ(d->items[0].id, "questions-1");
}

TEST(DatasetFormats, SplitInference) {
  EXPECT_EQ(infer_split("data/curebench_valset_phase1.jsonl"), "val");
  EXPECT_EQ(infer_split("data/curebench_testset_phase1.jsonl"), "test");
  EXPECT_EQ(infer_split("mmlu/dev/anatomy_dev.csv"), "dev");
  EXPECT_EQ(infer_split("mmlu/val/anatomy.csv"), "val");  // from the directory
  EXPECT_EQ(infer_split("medqa/test.jsonl"), "test");
  EXPECT_EQ(infer_split("x/validation-2024.jsonl"), "val");
  EXPECT_EQ(infer_split("pubmedqa/ori_pqal.json"), "");
  EXPECT_EQ(infer_split("contest.jsonl"), "");  // "test" only as a whole name-part
  EXPECT_EQ(infer_split("device_latest.jsonl"), "");
}

TEST(DatasetFiles, MissingEmptyAndUnknown) {
  Result<Dataset> missing = read_dataset(fixture("no_such_file.jsonl"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("no_such_file.jsonl"), std::string::npos);

  Result<Dataset> empty = read_dataset(fixture("empty.jsonl"));
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_TRUE(empty->items.empty());
  ASSERT_EQ(empty->issues.size(), 1u);
  EXPECT_EQ(empty->issues[0].problem, RowProblem::kEmptyFile);
  ReadOptions strict;
  strict.strict = true;
  EXPECT_FALSE(read_dataset(fixture("empty.jsonl"), strict));
}

TEST(DatasetFiles, GarbageIsReportedNeverThrown) {
  const std::vector<std::string> garbage = {"{",
                                            "}",
                                            "[",
                                            "\"",
                                            "\"a\",\"b",
                                            "{\"1\": {\"QUESTION\": 5}}",
                                            "\xFF\xFE\x00",
                                            ",,,,,\n\"",
                                            "{\"id\": \"x\", \"options\": {\"A\": null}}",
                                            "\r\n\r\n",
                                            "a,b,c,d,e,f,g\n\"q\"x\"\",1,2,3,4,A"};
  for (DatasetFormat format : {DatasetFormat::kCureBench, DatasetFormat::kMedQa,
                               DatasetFormat::kMmlu, DatasetFormat::kPubMedQa}) {
    for (const std::string& text : garbage) {
      ReadOptions options;
      options.format = format;
      Result<Dataset> d = parse_dataset(text, "garbage.txt", options);
      if (d) {
        for (const RowIssue& issue : d->issues) EXPECT_FALSE(issue.detail.empty());
        DatasetCheck check = check_dataset(*d);
        EXPECT_FALSE(to_json(check).dump().empty());
        EXPECT_FALSE(to_text(check).empty());
      } else {
        EXPECT_FALSE(d.error().message.empty());
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dataset check
// ---------------------------------------------------------------------------------------------

TEST(DatasetCheckReport, CountsPerTypeAndSplit) {
  DatasetCheck check = check_dataset(fixture("curebench_valset.jsonl"));
  ASSERT_FALSE(check.error);
  EXPECT_TRUE(check.ok());
  EXPECT_EQ(check.total.items, 6u);
  EXPECT_EQ(check.total.labeled, 5u);
  EXPECT_EQ(check.by_type.at(QuestionType::kMultiChoice).items, 2u);
  EXPECT_EQ(check.by_type.at(QuestionType::kOpenEndedMultiChoice).labeled, 2u);
  EXPECT_EQ(check.by_type.at(QuestionType::kOpenEnded).unlabeled(), 1u);
  ASSERT_EQ(check.by_split.size(), 1u);
  const SplitCheck& val = check.by_split.at("val");
  EXPECT_EQ(val.scored_items, 4u);
  EXPECT_EQ(val.scored_labeled, 4u);
  EXPECT_TRUE(val.has_labels());
  EXPECT_FALSE(val.partially_labeled());
  EXPECT_TRUE(check.unlabeled_splits().empty());
}

TEST(DatasetCheckReport, UnlabeledSplitIsFlagged) {
  DatasetCheck check = check_dataset(fixture("curebench_testset.jsonl"));
  EXPECT_EQ(check.unlabeled_splits(), std::vector<std::string>{"test"});
  nlohmann::json json = to_json(check);
  EXPECT_EQ(json["by_split"]["test"]["has_labels"], false);
  EXPECT_EQ(json["unlabeled_splits"], nlohmann::json::array({"test"}));
  const std::string text = to_text(check);
  EXPECT_NE(text.find("split test has no labels: no accuracy and no generalization gap"),
            std::string::npos)
      << text;
}

TEST(DatasetCheckReport, InvalidRowsAndDuplicates) {
  const std::string path = fixture("curebench_broken.jsonl");
  DatasetCheck check = check_dataset(path);
  EXPECT_FALSE(check.ok());
  EXPECT_EQ(check.rows, 12u);
  EXPECT_EQ(check.total.items, 2u);
  EXPECT_EQ(check.issues.size(), 10u);
  EXPECT_EQ(check.duplicate_ids, std::vector<std::string>{"ok-1"});
  EXPECT_EQ(check.problem_counts.at(RowProblem::kWrongType), 3u);
  EXPECT_EQ(check.problem_counts.at(RowProblem::kAnswerNotInOptions), 1u);
  // No split in the file name: the items have the unknown split "", partially labeled.
  ASSERT_EQ(check.by_split.count(""), 1u);
  EXPECT_EQ(check.by_split.at("").scored_labeled, 1u);

  nlohmann::json json = to_json(check);
  EXPECT_EQ(json["format"], "curebench");
  EXPECT_EQ(json["ok"], false);
  EXPECT_EQ(json["invalid"], 10);
  EXPECT_EQ(json["problem_counts"]["duplicate_id"], 1);
  EXPECT_EQ(json["issues"][0]["line"], 2);
  EXPECT_EQ(json["issues"][0]["problem"], "bad_json");
  EXPECT_EQ(json["duplicate_ids"][0], "ok-1");

  const std::string text = to_text(check);
  EXPECT_NE(text.find(path + ":6: answer 'E' is not among the options A, B, C, D"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("duplicate ids (1): ok-1"), std::string::npos) << text;
}

TEST(DatasetCheckReport, FileErrorIsInTheCheck) {
  DatasetCheck check = check_dataset(fixture("nope.jsonl"));
  ASSERT_TRUE(check.error);
  EXPECT_FALSE(check.ok());
  EXPECT_EQ(to_json(check)["error"]["code"], "not found");
  EXPECT_NE(to_text(check).find("cannot be read"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The real data sets in ../shared/data (skipped where the machine has no copy).
// ---------------------------------------------------------------------------------------------

TEST(DatasetShared, MmluMedicalSplits) {
  const fs::path dir = shared_data("mmlu-medical");
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " not present";
  DatasetCheck check = check_dataset(dir);
  ASSERT_FALSE(check.error) << check.error->message;
  EXPECT_TRUE(check.ok()) << to_text(check);
  EXPECT_EQ(check.by_split.at("test").total.items, 955u);
  EXPECT_EQ(check.by_split.at("val").total.items, 107u);
  EXPECT_EQ(check.by_split.at("dev").total.items, 25u);
  EXPECT_EQ(check.total.labeled, 1087u);
  EXPECT_TRUE(check.unlabeled_splits().empty());

  // college_medicine_test holds quoted fields with newlines: 173 rows on 224 lines.
  Result<Dataset> college = read_dataset(dir / "test" / "college_medicine_test.csv");
  ASSERT_TRUE(college);
  EXPECT_EQ(college->items.size(), 173u);
  EXPECT_EQ(college->items.back().id, "college_medicine_test-173");
}

TEST(DatasetShared, MedQaAndMedMcqa) {
  for (auto [name, count] : {std::pair{"medqa/test.jsonl", 1273u}, {"medmcqa/test.jsonl", 2816u}}) {
    const fs::path path = shared_data(name);
    if (!fs::exists(path)) GTEST_SKIP() << path << " not present";
    Result<Dataset> d = read_dataset(path);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->format, DatasetFormat::kMedQa) << name;
    EXPECT_EQ(d->items.size(), count) << name;
    EXPECT_TRUE(d->issues.empty()) << d->issues.front().to_string();
    EXPECT_EQ(d->items.front().id, "test-1");
    EXPECT_EQ(d->items.front().split, "test");
    EXPECT_TRUE(std::all_of(d->items.begin(), d->items.end(),
                            [](const Item& i) { return i.answer && i.options.size() == 4; }));
  }
}

TEST(DatasetShared, PubMedQa) {
  const fs::path path = shared_data("pubmedqa/ori_pqal.json");
  if (!fs::exists(path)) GTEST_SKIP() << path << " not present";
  Result<Dataset> d = read_dataset(path);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->format, DatasetFormat::kPubMedQa);
  ASSERT_EQ(d->items.size(), 1000u);
  EXPECT_TRUE(d->issues.empty());
  std::map<std::string, int> answers;
  for (const Item& item : d->items) ++answers[item.answer.value_or("-")];
  EXPECT_EQ(answers["A"], 552);
  EXPECT_EQ(answers["B"], 338);
  EXPECT_EQ(answers["C"], 110);
  EXPECT_EQ(d->items.front().id, "21645374");  // the file's first entry
  EXPECT_EQ(d->items.front().source, path.string() + ":2");
  EXPECT_EQ(d->items.front().split, "");

  // The directory also holds the answer key of the test split: one unreadable file, not 500
  // broken rows.
  Result<Dataset> dir = read_dataset(path.parent_path());
  ASSERT_TRUE(dir) << dir.error().message;
  EXPECT_EQ(dir->items.size(), 1000u);
  ASSERT_EQ(dir->issues.size(), 1u);
  EXPECT_EQ(dir->issues[0].problem, RowProblem::kUnreadable);
  EXPECT_EQ(dir->issues[0].to_string().rfind(
                (path.parent_path() / "test_ground_truth.json").string() + ": every entry", 0),
            0u)
      << dir->issues[0].to_string();
}

}  // namespace
}  // namespace clinbench
