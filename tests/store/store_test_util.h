// Helpers for the run store tests: a scratch directory and realistic item records.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "clinbench/store.h"

namespace clinbench::store_test {

// A fresh directory under the test temp dir, removed with its content at the end of the scope.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::path(::testing::TempDir()) / "store_XXXXXX").string();
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << pattern;
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path run_dir() const { return path_ / "run"; }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

// Item i of a labeled multi_choice dataset, with every field set. trace_bytes pads the trace.
inline ItemRecord sample_item(const std::string& model, const std::string& dataset, int i,
                              size_t trace_bytes = 0) {
  ItemRecord r;
  r.model = model;
  r.dataset = dataset;
  r.item_id = fmt::format("q{:05d}", i);
  r.split = "val";
  r.question_type = "multi_choice";
  r.scoring = "generate";
  r.prompt_tokens = 100 + i;
  r.output_tokens = {40 + i, 3};
  r.reasoning_chars = 180;
  r.reasoning_tokens = 40;
  r.ttft_ms = 12.5;
  r.prefill_ms = 30.25;
  r.decode_ms = 800.0;
  r.tokens_per_s = 53.75;
  r.energy_j = 12.5;
  r.choice = std::string(1, static_cast<char>('A' + i % 4));
  r.prediction = "Dexamethasone";
  r.correct_answer = "B";
  r.correct = r.choice == "B";
  r.extraction_rule = "answer_is";
  r.truncated = false;
  r.error = "";
  r.trace = "The patient presents with ... The answer is " + r.choice;
  r.trace.append(trace_bytes, 'x');
  r.extra = {{"turns", 1}, {"note", "sample"}};
  return r;
}

}  // namespace clinbench::store_test
