#include "model/llama_log.h"

#include <ggml.h>
#include <llama.h>
#include <log.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <string>

namespace clinbench {

namespace {

struct LogState {
  std::mutex mu;
  int verbosity = 0;
  bool capturing = false;
  std::string partial;
  ggml_log_level partial_level = GGML_LOG_LEVEL_NONE;
  std::vector<std::string> captured;
};

LogState& state() {
  static LogState s;
  return s;
}

int rank(ggml_log_level level) {
  switch (level) {
    case GGML_LOG_LEVEL_ERROR:
      return 0;
    case GGML_LOG_LEVEL_WARN:
      return 1;
    case GGML_LOG_LEVEL_INFO:
      return 2;
    default:
      return 3;
  }
}

std::string strip_function_prefix(const std::string& line) {
  // llama.cpp prefixes lines with "function_name: "; keep the message.
  size_t colon = line.find(": ");
  if (colon != std::string::npos && colon < 64 && line.find(' ') > colon) {
    return line.substr(colon + 2);
  }
  return line;
}

void callback(ggml_log_level level, const char* text, void*) {
  LogState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (level != GGML_LOG_LEVEL_CONT) s.partial_level = level;
  const ggml_log_level eff = s.partial_level;
  // Errors caught by a LogCapture become part of an Error; they are not printed twice.
  if (rank(eff) <= s.verbosity && !(s.capturing && rank(eff) == 0)) std::fputs(text, stderr);
  if (!s.capturing || rank(eff) > 0) return;
  s.partial += text;
  size_t nl;
  while ((nl = s.partial.find('\n')) != std::string::npos) {
    std::string line = s.partial.substr(0, nl);
    s.partial.erase(0, nl + 1);
    if (!line.empty()) s.captured.push_back(strip_function_prefix(line));
  }
}

}  // namespace

void install_llama_logger(int verbosity) {
  {
    std::lock_guard<std::mutex> lock(state().mu);
    state().verbosity = verbosity;
  }
  llama_log_set(callback, nullptr);
  ggml_log_set(callback, nullptr);
  // llama.cpp's common library (chat templates and parsers) logs on its own: the same levels.
  constexpr int kCommonLevels[] = {LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
                                   LOG_LEVEL_DEBUG};
  common_log_set_verbosity_thold(kCommonLevels[std::clamp(verbosity, 0, 3)]);
}

LogCapture::LogCapture() {
  install_llama_logger(state().verbosity);
  std::lock_guard<std::mutex> lock(state().mu);
  state().capturing = true;
  state().captured.clear();
  state().partial.clear();
}

LogCapture::~LogCapture() {
  std::lock_guard<std::mutex> lock(state().mu);
  state().capturing = false;
}

std::vector<std::string> LogCapture::lines() const {
  std::lock_guard<std::mutex> lock(state().mu);
  std::vector<std::string> out = state().captured;
  if (!state().partial.empty()) out.push_back(strip_function_prefix(state().partial));
  return out;
}

std::string LogCapture::errors() const {
  std::string out;
  for (const auto& l : lines()) {
    if (!out.empty()) out += "; ";
    out += l;
  }
  return out;
}

}  // namespace clinbench
