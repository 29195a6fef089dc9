// The dashboard's JavaScript and CSS, embedded at build time (cmake/embed_assets.cmake turns the
// files CMakeLists.txt names into generated/report_assets.cpp).
#pragma once

#include <string_view>

namespace clinbench {

std::string_view report_asset_vega_js();            // web/node_modules/vega/build/vega.min.js
std::string_view report_asset_vega_lite_js();       // vega-lite/build/vega-lite.min.js
std::string_view report_asset_vega_embed_js();      // vega-embed/build/vega-embed.min.js
std::string_view report_asset_dashboard_js();       // src/report/page/dashboard.js
std::string_view report_asset_dashboard_css();      // src/report/page/dashboard.css
std::string_view report_asset_render_figures_js();  // src/report/page/render_figures.js (Node.js)

}  // namespace clinbench
