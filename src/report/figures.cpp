// Static figures: SVG through Node.js and Vega, PNG through headless Chromium.
#include "report/figures.h"

#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
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

// A scratch directory removed with its content at scope exit. path() is empty when it could not
// be created, and error() then says why.
class TempDir {
 public:
  TempDir() {
    std::error_code ec;
    const fs::path base = fs::temp_directory_path(ec);
    if (ec) {
      error_ = fmt::format("cannot create a temporary directory: {}", ec.message());
      return;
    }
    std::string tmpl = (base / "clinbench-report-XXXXXX").string();
    if (::mkdtemp(tmpl.data())) {
      path_ = tmpl;
    } else {
      error_ = "cannot create a temporary directory";
    }
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  const std::string& error() const { return error_; }

 private:
  fs::path path_;
  std::string error_;
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
      // A candidate whose status cannot be read is skipped like a directory: it is no program.
      std::error_code ec;
      if (::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p, ec) && !ec) return p.string();
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
    // A panel's variable parameters (Figure 2's axis switch) live at the top of a concatenated
    // spec, without their input: a static figure draws their default.
    json params = json::array();
    for (const auto& p : f["panels"]) {
      json spec = p["spec"];
      for (json param : spec.value("params", json::array())) {
        param.erase("bind");
        params.push_back(std::move(param));
      }
      spec.erase("params");
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
    if (!params.empty()) specs[f["id"].get<std::string>()]["params"] = std::move(params);
  }
  return specs;
}

namespace {

// The figure files of one report: out_dir/<id>.svg and .png for each id, and the outcome that
// records which were made and which were not.
struct FigureFiles {
  const fs::path& out_dir;
  std::vector<std::string> ids;
  ReportOutcome& outcome;

  // Records every figure's file of extension ext as not made, for the reason why.
  void all_missing(const std::string& ext, const std::string& why) const {
    for (const auto& id : ids) {
      outcome.missing.push_back(fmt::format("{}: {}", (out_dir / (id + ext)).string(), why));
    }
  }
  // Records every SVG as not made for the reason why, and every PNG as made from it.
  void no_svgs(const std::string& why) const {
    all_missing(".svg", why);
    all_missing(".png", "made from the SVG, which could not be made");
  }
};

// The Node.js that renders the SVGs; "" when there is none, after recording every figure as not
// made.
std::string usable_node(const ReportOptions& options, const FigureFiles& files) {
  std::string node = find_program(options.node, "CLINBENCH_NODE", {"node", "nodejs"});
  if (node.empty()) {
    files.no_svgs(
        "no Node.js: 'node' is not on PATH (install Debian's nodejs, or set "
        "CLINBENCH_NODE)");
    return "";
  }
  if (::access(node.c_str(), X_OK) != 0) {
    files.no_svgs(fmt::format("Node.js '{}' is not an executable file", node));
    return "";
  }
  return node;
}

// The headless browser that draws the PNGs; "" when there is none, after recording every PNG as
// not made.
std::string usable_chromium(const ReportOptions& options, const FigureFiles& files) {
  std::string chromium = find_program(options.chromium, "CLINBENCH_CHROMIUM",
                                      {"chromium", "chromium-browser", "google-chrome"});
  if (chromium.empty()) {
    files.all_missing(".png",
                      "no headless browser: none of chromium, chromium-browser, google-chrome "
                      "is on PATH (install Debian's chromium, or set CLINBENCH_CHROMIUM)");
    return "";
  }
  if (::access(chromium.c_str(), X_OK) != 0) {
    files.all_missing(".png",
                      fmt::format("headless browser '{}' is not an executable file", chromium));
    return "";
  }
  return chromium;
}

// The SVGs rendered by node into tmp and copied to out_dir, as (id, content) of each one
// written; nullopt when the renderer could not run, after recording every figure as not made.
std::optional<std::vector<std::pair<std::string, std::string>>> render_svgs(
    const std::string& node, const json& specs, const fs::path& tmp, const FigureFiles& files) {
  const std::string specs_text = specs.dump(-1, ' ', false, json::error_handler_t::replace);
  for (const auto& [name, text] :
       {std::pair<const char*, std::string_view>{"vega.js", report_asset_vega_js()},
        {"vega-lite.js", report_asset_vega_lite_js()},
        {"render_figures.js", report_asset_render_figures_js()},
        {"specs.json", specs_text}}) {
    if (auto w = write_file_atomically(tmp / name, text); !w) {
      files.no_svgs(w.error().message);
      return std::nullopt;
    }
  }
  // Render into the scratch directory, then move each file: a failed run leaves the previous
  // figures, never half of new ones.
  const std::string failed = run_tool({node, (tmp / "render_figures.js").string(), tmp.string(),
                                       (tmp / "specs.json").string(), tmp.string()},
                                      tmp / "node.log");
  if (!failed.empty()) {
    files.no_svgs(failed);
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> svgs;  // id, content
  for (const auto& id : files.ids) {
    const fs::path svg = files.out_dir / (id + ".svg");
    const std::string content = read_text(tmp / (id + ".svg"));
    if (content.empty()) {
      files.outcome.missing.push_back(fmt::format("{}: the renderer wrote nothing", svg.string()));
      continue;
    }
    if (auto w = write_file_atomically(svg, content); !w) {
      files.outcome.missing.push_back(w.error().message);  // it names the SVG
      continue;
    }
    files.outcome.files.push_back(svg);
    svgs.emplace_back(id, content);
  }
  return svgs;
}

// out_dir/<id>.png: chromium's screenshot of the SVG written from svg_content, recorded as made
// or, with the reason, as not made.
void write_png(const std::string& chromium, const std::string& id, const std::string& svg_content,
               const fs::path& tmp, const FigureFiles& files) {
  const fs::path png = files.out_dir / (id + ".png");
  const auto [w, h] = svg_size(svg_content);
  if (w <= 0 || h <= 0) {
    files.outcome.missing.push_back(
        fmt::format("{}: the SVG has no width and height", png.string()));
    return;
  }
  const fs::path svg = files.out_dir / (id + ".svg");
  std::error_code ec;
  const fs::path svg_absolute = fs::absolute(svg, ec);
  if (ec) {
    files.outcome.missing.push_back(fmt::format("{}: cannot make {} an absolute path: {}",
                                                png.string(), svg.string(), ec.message()));
    return;
  }
  const fs::path shot = tmp / (id + ".png");
  const std::string why = run_tool(
      {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
       "--no-first-run", "--disable-extensions", "--disable-background-networking",
       "--user-data-dir=" + (tmp / "chromium-profile").string(),
       // Headless Chromium with a fresh profile draws nothing in a window under about
       // 130 pixels tall: small figures get a white margin instead.
       fmt::format("--window-size={},{}", std::max(w, kMinShot), std::max(h, kMinShot)),
       "--screenshot=" + shot.string(), "file://" + svg_absolute.lexically_normal().string()},
      tmp / "chromium.log");
  std::error_code rc;
  if (!why.empty() || !fs::exists(shot, rc)) {
    files.outcome.missing.push_back(
        fmt::format("{}: {}", png.string(), why.empty() ? "chromium wrote no screenshot" : why));
    return;
  }
  // Copied rather than renamed: the scratch directory may be on another file system, where a
  // rename fails and a plain copy could leave half a PNG over the previous one.
  const std::string pixels = read_text(shot);
  if (pixels.empty()) {
    files.outcome.missing.push_back(
        fmt::format("{}: chromium wrote an empty screenshot", png.string()));
    return;
  }
  if (auto written = write_file_atomically(png, pixels); !written) {
    files.outcome.missing.push_back(written.error().message);
    return;
  }
  files.outcome.files.push_back(png);
}

}  // namespace

Result<void> write_static_figures(const json& data, const fs::path& out_dir,
                                  const ReportOptions& options, ReportOutcome& outcome) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) {
    return make_error(ErrorCode::kIo,
                      fmt::format("{}: cannot create: {}", out_dir.string(), ec.message()));
  }
  const json specs = figure_specs(data);
  FigureFiles files{out_dir, {}, outcome};
  for (const auto& entry : specs.items()) files.ids.push_back(entry.key());

  const std::string node = usable_node(options, files);
  if (node.empty()) return {};
  TempDir tmp;
  if (tmp.path().empty()) {
    files.no_svgs(tmp.error());
    return {};
  }
  const auto svgs = render_svgs(node, specs, tmp.path(), files);
  if (!svgs) return {};
  const std::string chromium = usable_chromium(options, files);
  if (chromium.empty()) return {};
  for (const auto& [id, content] : *svgs) write_png(chromium, id, content, tmp.path(), files);
  return {};
}

}  // namespace clinbench::report
