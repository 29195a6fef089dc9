// Static figures: SVG through Node.js and Vega, PNG through headless Chromium.
#include "report/figures.h"

#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <system_error>

#include "report/assets.h"
#include "util/atomic_file.h"
#include "util/subprocess.h"

namespace clinbench::report {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kMinShot = 200;  // pixels: the smallest PNG width and height

// A scratch directory removed with its content at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "clinbench-report-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs argv to completion; "" on success, else why it failed (with the tail of its output).
std::string run_tool(const std::vector<std::string>& argv, const fs::path& log) {
  SpawnOptions so;
  so.argv = argv;
  so.stderr_path = log.string();
  auto r = run_child(so);
  if (!r) return r.error().message;
  if (r->exit_code && *r->exit_code == 0) return "";
  const std::string how = r->signal ? fmt::format("killed by signal {}", *r->signal)
                                    : fmt::format("exit status {}", r->exit_code.value_or(-1));
  std::string tail = tail_file(log.string(), 6, 800);
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  return fmt::format("{} failed ({}){}", fs::path(argv[0]).filename().string(), how,
                     tail.empty() ? "" : ": " + tail);
}

// The SVG's width and height attributes (Vega writes integers).
std::pair<int, int> svg_size(const std::string& svg) {
  static const std::regex w(R"re(<svg[^>]*\swidth="(\d+))re");
  static const std::regex h(R"re(<svg[^>]*\sheight="(\d+))re");
  std::smatch mw, mh;
  const std::string head = svg.substr(0, 2000);
  if (!std::regex_search(head, mw, w) || !std::regex_search(head, mh, h)) return {0, 0};
  return {std::stoi(mw[1]), std::stoi(mh[1])};
}

}  // namespace

std::string find_program(const std::string& given, const char* env_var,
                         std::initializer_list<const char*> names) {
  if (!given.empty()) return given;
  if (const char* e = std::getenv(env_var); e && *e) return e;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::vector<std::string> ds;
  for (std::string d; std::getline(dirs, d, ':');) ds.push_back(d.empty() ? "." : d);
  for (const char* name : names) {
    for (const auto& d : ds) {
      const fs::path p = fs::path(d) / name;
      if (::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p)) return p.string();
    }
  }
  return "";
}

json figure_specs(const json& data) {
  // Panels keep their own colours and legends: a shared colour scale would merge domains.
  const json independent = {{"scale",
                             {{"color", "independent"},
                              {"shape", "independent"},
                              {"size", "independent"},
                              {"opacity", "independent"}}}};
  json specs = json::object();
  for (const auto& f : data.value("figures", json::array())) {
    const int columns = std::max(1, f.value("columns", 1));
    json rows = json::array();
    json row = json::array();
    for (const auto& p : f["panels"]) {
      json spec = p["spec"];
      spec["title"] = {{"text", p.value("title", "")}, {"anchor", "start"}, {"fontSize", 13}};
      row.push_back(std::move(spec));
      if (static_cast<int>(row.size()) == columns) {
        rows.push_back({{"hconcat", std::move(row)}, {"spacing", 40}, {"resolve", independent}});
        row = json::array();
      }
    }
    if (!row.empty()) {
      rows.push_back({{"hconcat", std::move(row)}, {"spacing", 40}, {"resolve", independent}});
    }
    specs[f["id"].get<std::string>()] = {
        {"$schema", "https://vega.github.io/schema/vega-lite/v6.json"},
        {"title", {{"text", f.value("title", "")}, {"fontSize", 16}, {"anchor", "start"}}},
        {"background", "white"},
        {"padding", 12},
        {"vconcat", std::move(rows)},
        {"spacing", 36},
        {"resolve", independent}};
  }
  return specs;
}

Result<void> write_static_figures(const json& data, const fs::path& out_dir,
                                  const ReportOptions& options, ReportOutcome& outcome) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) {
    return make_error(ErrorCode::kIo,
                      fmt::format("{}: cannot create: {}", out_dir.string(), ec.message()));
  }
  const json specs = figure_specs(data);
  std::vector<std::string> ids;
  for (const auto& entry : specs.items()) ids.push_back(entry.key());
  auto all_missing = [&](const std::string& ext, const std::string& why) {
    for (const auto& id : ids) {
      outcome.missing.push_back(fmt::format("{}: {}", (out_dir / (id + ext)).string(), why));
    }
  };

  const std::string node = find_program(options.node, "CLINBENCH_NODE", {"node", "nodejs"});
  if (node.empty()) {
    all_missing(".svg",
                "no Node.js: 'node' is not on PATH (install Debian's nodejs, or set "
                "CLINBENCH_NODE)");
    all_missing(".png", "made from the SVG, which could not be made");
    return {};
  }
  if (::access(node.c_str(), X_OK) != 0) {
    all_missing(".svg", fmt::format("Node.js '{}' is not an executable file", node));
    all_missing(".png", "made from the SVG, which could not be made");
    return {};
  }
  TempDir tmp;
  if (tmp.path().empty()) {
    all_missing(".svg", "cannot create a temporary directory");
    all_missing(".png", "made from the SVG, which could not be made");
    return {};
  }
  const std::string specs_text = specs.dump(-1, ' ', false, json::error_handler_t::replace);
  for (const auto& [name, text] :
       {std::pair<const char*, std::string_view>{"vega.js", report_asset_vega_js()},
        {"vega-lite.js", report_asset_vega_lite_js()},
        {"render_figures.js", report_asset_render_figures_js()},
        {"specs.json", specs_text}}) {
    if (auto w = write_file_atomically(tmp.path() / name, text); !w) {
      all_missing(".svg", w.error().message);
      all_missing(".png", "made from the SVG, which could not be made");
      return {};
    }
  }
  // Render into the scratch directory, then move each file: a failed run leaves the previous
  // figures, never half of new ones.
  const std::string failed =
      run_tool({node, (tmp.path() / "render_figures.js").string(), tmp.path().string(),
                (tmp.path() / "specs.json").string(), tmp.path().string()},
               tmp.path() / "node.log");
  if (!failed.empty()) {
    all_missing(".svg", failed);
    all_missing(".png", "made from the SVG, which could not be made");
    return {};
  }
  std::vector<std::pair<std::string, std::string>> svgs;  // id, content
  for (const auto& id : ids) {
    const fs::path svg = out_dir / (id + ".svg");
    const std::string content = read_text(tmp.path() / (id + ".svg"));
    if (content.empty()) {
      outcome.missing.push_back(fmt::format("{}: the renderer wrote nothing", svg.string()));
      continue;
    }
    if (auto w = write_file_atomically(svg, content); !w) {
      outcome.missing.push_back(w.error().message);  // it names the SVG
      continue;
    }
    outcome.files.push_back(svg);
    svgs.emplace_back(id, content);
  }

  const std::string chromium = find_program(options.chromium, "CLINBENCH_CHROMIUM",
                                            {"chromium", "chromium-browser", "google-chrome"});
  if (chromium.empty()) {
    all_missing(".png",
                "no headless browser: none of chromium, chromium-browser, google-chrome "
                "is on PATH (install Debian's chromium, or set CLINBENCH_CHROMIUM)");
    return {};
  }
  if (::access(chromium.c_str(), X_OK) != 0) {
    all_missing(".png", fmt::format("headless browser '{}' is not an executable file", chromium));
    return {};
  }
  for (const auto& [id, content] : svgs) {
    const fs::path png = out_dir / (id + ".png");
    const auto [w, h] = svg_size(content);
    if (w <= 0 || h <= 0) {
      outcome.missing.push_back(fmt::format("{}: the SVG has no width and height", png.string()));
      continue;
    }
    const fs::path shot = tmp.path() / (id + ".png");
    const std::string why =
        run_tool({chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                  "--no-first-run", "--disable-extensions", "--disable-background-networking",
                  "--user-data-dir=" + (tmp.path() / "chromium-profile").string(),
                  // Headless Chromium with a fresh profile draws nothing in a window under about
                  // 130 pixels tall: small figures get a white margin instead.
                  fmt::format("--window-size={},{}", std::max(w, kMinShot), std::max(h, kMinShot)),
                  "--screenshot=" + shot.string(),
                  "file://" + fs::absolute(out_dir / (id + ".svg")).lexically_normal().string()},
                 tmp.path() / "chromium.log");
    std::error_code rc;
    if (!why.empty() || !fs::exists(shot, rc)) {
      outcome.missing.push_back(
          fmt::format("{}: {}", png.string(), why.empty() ? "chromium wrote no screenshot" : why));
      continue;
    }
    // Copied rather than renamed: the scratch directory may be on another file system, where a
    // rename fails and a plain copy could leave half a PNG over the previous one.
    const std::string pixels = read_text(shot);
    if (pixels.empty()) {
      outcome.missing.push_back(
          fmt::format("{}: chromium wrote an empty screenshot", png.string()));
      continue;
    }
    if (auto written = write_file_atomically(png, pixels); !written) {
      outcome.missing.push_back(written.error().message);
      continue;
    }
    outcome.files.push_back(png);
  }
  return {};
}

}  // namespace clinbench::report
