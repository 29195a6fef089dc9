// The self-contained page: the data document as inert JSON, the charting library and the page's
// script inlined, and a Content-Security-Policy that allows no network request and only the
// page's own scripts (by hash), so even markup that escaped into the page could not run.
#include "report/html.h"

#include <fmt/format.h>

#include <cctype>
#include <string>

#include "clinbench/hash.h"
#include "clinbench/report.h"
#include "report/assets.h"

namespace clinbench {

using nlohmann::json;

namespace report {

namespace {

std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kAlphabet[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// The CSP source of an inline script: 'sha256-<base64 of the digest>'.
std::string script_hash(std::string_view script) {
  const std::string hex = sha256_string(script);
  std::string raw;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    raw += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return "'sha256-" + base64(raw) + "'";
}

}  // namespace

std::string json_for_script(const json& data) {
  const std::string text = data.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + text.size() / 50);
  // '<', '>' and '&' occur only inside JSON strings, where \u escapes mean the same characters:
  // no "</script>" or "<!--" can end or alter the element.
  for (char c : text) {
    switch (c) {
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string script_safe(std::string_view js) {
  std::string out(js);
  // "</script" inside a script would end the element; "<\/" means "</" in JavaScript strings,
  // regular expressions and comments alike.
  for (std::size_t pos = 0; (pos = out.find("</", pos)) != std::string::npos; pos += 3) {
    std::string word = out.substr(pos + 2, 6);
    for (auto& ch : word) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (word == "script") out.replace(pos, 2, "<\\/");
  }
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace report

std::string render_report_html(const json& data) {
  using report::script_safe;
  const std::string scripts[] = {
      script_safe(report_asset_vega_js()), script_safe(report_asset_vega_lite_js()),
      script_safe(report_asset_vega_embed_js()), script_safe(report_asset_dashboard_js())};
  std::string hashes;
  for (const auto& s : scripts) hashes += " " + report::script_hash(s);
  const std::string title = data.contains("title") && data["title"].is_string()
                                ? data["title"].get<std::string>()
                                : std::string("clinbench report");
  std::string page;
  page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  // Vega compiles its expressions with Function(): 'unsafe-eval'. Nothing may be fetched.
  page += fmt::format(
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "script-src{} 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; "
      "font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'\">\n",
      hashes);
  page += "<title>" + report::html_escape(title) + "</title>\n";
  page += "<style>\n" + std::string(report_asset_dashboard_css()) + "\n</style>\n</head>\n<body>\n";
  page +=
      "<div id=\"app\"><noscript>This report needs JavaScript to draw its charts; its data "
      "is in the clinbench-data element of this file.</noscript></div>\n";
  page += "<script type=\"application/json\" id=\"clinbench-data\">" +
          report::json_for_script(data) + "</script>\n";
  for (const auto& s : scripts) page += "<script>" + s + "</script>\n";
  page += "</body>\n</html>\n";
  return page;
}

}  // namespace clinbench
