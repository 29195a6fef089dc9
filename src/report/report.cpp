// write_report and write_compare_report: the page, then the static figures.
#include "clinbench/report.h"

#include <fmt/format.h>

#include <system_error>

#include "report/figures.h"
#include "util/atomic_file.h"

namespace clinbench {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Result<ReportOutcome> write_page(const json& data, const fs::path& page) {
  const fs::path parent = page.parent_path().empty() ? fs::path(".") : page.parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("{}: cannot write the page: directory {} does not exist",
                                  page.string(), parent.string()));
  }
  if (auto w = write_file_atomically(page, render_report_html(data)); !w) {
    return std::unexpected(w.error());
  }
  ReportOutcome outcome;
  outcome.page = page;
  if (data.contains("counts")) {
    outcome.items = data["counts"].value("items", std::size_t{0});
    outcome.models = data["counts"].value("models", std::size_t{0});
  }
  return outcome;
}

}  // namespace

Result<ReportOutcome> write_report(const fs::path& run_dir, const ReportOptions& options) {
  auto data = report_data(run_dir);
  if (!data) return std::unexpected(data.error());
  auto outcome =
      write_page(*data, options.output.empty() ? run_dir / "dashboard.html" : options.output);
  if (!outcome) return outcome;
  if (options.figures) {
    if (auto f = report::write_static_figures(*data, run_dir / "figures", options, *outcome); !f) {
      return std::unexpected(f.error());
    }
  }
  return outcome;
}

Result<ReportOutcome> write_compare_report(const fs::path& run_a, const fs::path& run_b,
                                           const ReportOptions& options) {
  auto data = compare_data(run_a, run_b, options.pairs);
  if (!data) return std::unexpected(data.error());
  return write_page(*data, options.output.empty() ? run_a / "compare.html" : options.output);
}

}  // namespace clinbench
