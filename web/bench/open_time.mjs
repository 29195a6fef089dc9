// Opens report pages in headless Chromium and times them: for each page, REPS fresh tabs, each
// from navigation start to every panel drawn (window.clinbenchReadyMs, set by the page) and the
// wall time of goto-until-ready seen from here. Prints one JSON object. Used by
// bench/report_bench.cpp.
//   node open_time.mjs REPS PAGE.html [PAGE.html ...]
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [reps, ...pages] = process.argv.slice(2);
const executablePath = process.env.CLINBENCH_CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
const out = {};
try {
  for (const p of pages) {
    out[p] = [];
    for (let i = 0; i < Number(reps); i++) {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      const t0 = Date.now();
      await page.goto(pathToFileURL(path.resolve(p)).href);
      await page.waitForFunction(() => window.clinbenchReady === true, null, { timeout: 120000 });
      const wall = Date.now() - t0;
      const ready = await page.evaluate(() => window.clinbenchReadyMs);
      out[p].push({ ready_ms: ready, wall_ms: wall });
      await page.close();
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
