// Escaping for the report page (html.cpp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace clinbench::report {

// The JSON text of data with '<', '>' and '&' written as \u003c, \u003e, \u0026: safe inside
// <script type="application/json"> whatever the strings hold; invalid UTF-8 becomes U+FFFD.
std::string json_for_script(const nlohmann::json& data);
// JavaScript with every "</script" written "<\/script", so it cannot end its element.
std::string script_safe(std::string_view js);
// Text for HTML content or a quoted attribute.
std::string html_escape(std::string_view text);

}  // namespace clinbench::report
