// Helpers shared by the report tests.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace clinbench::report_test {

// The panel `id` of a report's data document (any figure); a test failure and null when absent.
inline const nlohmann::json& panel(const nlohmann::json& doc, const std::string& id) {
  for (const auto& f : doc["figures"]) {
    for (const auto& p : f["panels"]) {
      if (p["id"] == id) return p;
    }
  }
  static const nlohmann::json none;
  ADD_FAILURE() << "no panel " << id;
  return none;
}

}  // namespace clinbench::report_test
