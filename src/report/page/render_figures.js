// Renders the report's figures to SVG with Vega's own headless renderer: no browser, no canvas
// (text widths are Vega's estimates). Written next to vega.js and vega-lite.js (the copies
// embedded in clinbench) by `clinbench report`, which runs:
//   node render_figures.js LIB_DIR SPECS.json OUT_DIR
// SPECS.json: {"figure1": <Vega-Lite spec>, ...}; writes OUT_DIR/figure1.svg, ...
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const [libDir, specsPath, outDir] = process.argv.slice(2);
// The UMD bundles define globals, as in the page.
for (const f of ['vega.js', 'vega-lite.js']) {
  vm.runInThisContext(fs.readFileSync(path.join(libDir, f), 'utf8'), { filename: f });
}
const specs = JSON.parse(fs.readFileSync(specsPath, 'utf8'));

(async () => {
  for (const [id, spec] of Object.entries(specs)) {
    const compiled = vegaLite.compile(spec).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
    const svg = await view.toSVG();
    view.finalize();
    fs.writeFileSync(path.join(outDir, id + '.svg'), svg);
  }
})().catch((e) => {
  console.error((e && e.stack) || String(e));
  process.exit(1);
});
