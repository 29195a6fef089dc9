// Opens a clinbench report page in headless Chromium (Debian's chromium driven by playwright-core)
// and checks it as a reader would: no console error or warning, no network request, every panel
// drawn with marks, the item browser's filters, a reply carrying markup shown as text and never
// run, and the figures' data equal to results.json. Run by tests/report/report_browser_test.cpp.
//
//   node dashboard_test.mjs --page PAGE.html [--results results.json] [--fidelity fidelity.json]
//                           [--screenshot FIG1.png]
//
// Prints one line per check; exits 1 on the first failed page load, or after listing every
// failed check.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (!args.page) {
  console.error('usage: dashboard_test.mjs --page PAGE.html [--results results.json] [--fidelity fidelity.json] [--screenshot FILE.png]');
  process.exit(2);
}
const failures = [];
const check = (ok, what) => {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures.push(what);
};
const near = (a, b) => (a === null || b === null ? a === b : Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)));

const executablePath = process.env.CLINBENCH_CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1100 } });
  const pageUrl = pathToFileURL(path.resolve(args.page)).href;
  const messages = [];
  const requests = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') messages.push(m.type() + ': ' + m.text()); });
  page.on('pageerror', (e) => messages.push('uncaught: ' + e.message));
  page.on('request', (r) => { if (r.url() !== pageUrl) requests.push(r.url()); });
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.clinbenchReady === true, null, { timeout: 120000 });
  const data = await page.evaluate(() => window.clinbenchData);
  check((await page.evaluate(() => window.clinbenchErrors.length)) === 0, 'every panel embedded without error');

  // Every panel drawn, with marks.
  for (const figure of data.figures) {
    for (const panel of figure.panels) {
      const marks = await page.evaluate((id) => document.querySelectorAll('#panel-' + CSS.escape(id) + ' svg .role-mark > *').length, panel.id);
      check(marks > 0, `panel ${panel.id}: ${marks} marks drawn`);
    }
  }

  // Notices (a run still going) are shown under the title, as text.
  const notices = await page.evaluate(() => [...document.querySelectorAll('header .notice')].map((e) => e.textContent));
  check(JSON.stringify(notices) === JSON.stringify(data.notices || []), `notices shown under the title: ${notices.length}`);

  // The page's script did not run anything from the data.
  check((await page.evaluate(() => window.__pwned)) === undefined, 'no injected script or handler ran');

  if (Array.isArray(data.items)) await itemBrowser(page, data);
  if (data.kind === 'run' && args.results) checkAgainstResults(data, JSON.parse(fs.readFileSync(args.results, 'utf8')));
  if (data.kind === 'run' && args.fidelity) checkAgainstFidelity(data, JSON.parse(fs.readFileSync(args.fidelity, 'utf8')));
  if (data.kind === 'run') {
    const noLabels = data.results.accuracy.some((a) => a.question_type === 'all' && a.note === 'no labels');
    const text = await page.evaluate(() => document.querySelector('#panel-accuracy svg').textContent);
    check(!noLabels || text.includes('no labels'), "an unlabeled split is drawn as 'no labels'");
  }
  for (const table of data.tables || []) {
    const rows = await page.evaluate((id) => document.querySelectorAll('#table-' + CSS.escape(id) + ' tbody tr').length, table.id);
    check(rows === Math.min(200, table.rows.length), `table ${table.id}: ${rows} rows`);
  }
  if (args.screenshot) {
    await page.locator('#' + data.figures[0].id).screenshot({ path: args.screenshot });
    check(fs.statSync(args.screenshot).size > 10000, `screenshot of ${data.figures[0].id} written to ${args.screenshot}`);
  }
  check(messages.length === 0, 'no console errors or warnings' + (messages.length ? ': ' + messages.join(' | ') : ''));
  check(requests.length === 0, 'no network request' + (requests.length ? ': ' + requests.join(' ') : ''));
} finally {
  await browser.close();
}
if (failures.length) {
  console.log(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('all checks passed');

async function itemBrowser(page, data) {
  const items = data.items;
  const count = () => page.locator('#items-count').textContent();
  check((await count()) === `${items.length} of ${items.length} items`, `item browser lists ${items.length} items`);
  const models = [...new Set(items.map((i) => i.model))].sort();
  const model = models[models.length - 1];
  await page.selectOption('#items-filter-model', model);
  const ofModel = items.filter((i) => i.model === model);
  check((await count()) === `${ofModel.length} of ${items.length} items`, `filter by model '${model}': ${ofModel.length} items`);
  const firstCells = await page.locator('#items-table tbody tr td:first-child').allTextContents();
  check(firstCells.length > 0 && firstCells.every((c) => c === model), 'every row shown is of that model');
  await page.selectOption('#items-filter-correct', 'wrong');
  const wrong = ofModel.filter((i) => i.correct === false);
  check((await count()) === `${wrong.length} of ${items.length} items`, `and wrong: ${wrong.length} items`);
  await page.selectOption('#items-filter-correct', '');
  const splits = [...new Set(items.map((i) => i.split))];
  for (const split of splits) {
    await page.selectOption('#items-filter-split', split);
    const n = ofModel.filter((i) => i.split === split).length;
    check((await count()) === `${n} of ${items.length} items`, `and split '${split}': ${n} items`);
  }
  await page.selectOption('#items-filter-split', '');
  await page.selectOption('#items-filter-model', '');

  // A stored reply carrying markup: shown as text in the item's trace, nothing parsed or run.
  const evil = items.find((i) => i.trace.includes('<script') || i.prediction.includes('<script'));
  check(evil !== undefined, 'the run holds a reply with a <script> element');
  if (!evil) return;
  await page.fill('#items-search', evil.item_id);
  await page.selectOption('#items-filter-model', evil.model);
  await page.selectOption('#items-filter-dataset', evil.dataset);
  await page.locator('#items-table tbody tr').first().click();
  const detail = await page.evaluate(() => {
    const d = document.getElementById('item-detail');
    return { text: d.textContent, scripts: d.querySelectorAll('script').length, elements: d.querySelectorAll('img, iframe, object, b').length };
  });
  check(detail.text.includes('<script>'), 'the reply is shown as text, <script> and all');
  check(detail.scripts === 0 && detail.elements === 0, 'no element was made from the reply');
  check((await page.evaluate(() => window.__pwned)) === undefined, 'opening the item ran nothing');
}

function panelValues(data, id) {
  for (const f of data.figures) for (const p of f.panels) if (p.id === id) return p.spec.data.values;
  check(false, `panel ${id} exists`);
  return [];
}

// The numbers drawn are the numbers stored.
function checkAgainstResults(data, results) {
  const all = results.accuracy.filter((a) => a.question_type === 'all');
  const acc = panelValues(data, 'accuracy');
  check(acc.length === all.length, `accuracy panel: ${acc.length} rows, results.json: ${all.length}`);
  check(all.every((a) => acc.some((v) => v.model === a.model && v.dataset === a.dataset && v.split === a.split &&
    near(v.accuracy, a.accuracy) && near(v.ci_low, a.ci_low) && near(v.ci_high, a.ci_high) && v.note === a.note)),
  'accuracy panel = results.json accuracy (question_type all): accuracy, Wilson interval, note');

  const byType = panelValues(data, 'accuracy-by-type');
  check(byType.every((v) => results.accuracy.some((a) => a.model === v.model && a.dataset === v.dataset && a.split === v.split &&
    a.question_type === v.question_type && near(a.accuracy, v.accuracy) && near(a.ci_low, v.ci_low))),
  'accuracy-per-type panel = results.json accuracy rows');

  const usage = (m, d) => results.usage.find((u) => u.model === m && u.dataset === d);
  for (const id of ['efficiency', 'efficiency-labeled']) {
    const vals = panelValues(data, id);
    const scored = all.filter((a) => a.accuracy !== null);
    if (scored.length === 0) continue;
    check(vals.length === scored.length && vals.every((v) => {
      const u = usage(v.model, v.dataset);
      const a = scored.find((r) => r.model === v.model && r.dataset === v.dataset && r.split === v.split);
      return u && a && near(v.avg_tokens, u.avg_prompt_tokens + u.avg_output_tokens) && near(v.accuracy, a.accuracy);
    }), `${id} panel = results.json usage average tokens and accuracy`);
  }
  const tokens = panelValues(data, 'tokens');
  check(tokens.length === 2 * results.usage.length && tokens.every((v) => {
    const u = usage(v.model, v.dataset);
    return u && v.tokens === (v.kind === 'output' ? u.output_tokens : u.prompt_tokens);
  }), 'tokens panel = results.json usage prompt_tokens and output_tokens');
  const avg = panelValues(data, 'average-tokens');
  check(avg.length === 2 * results.usage.length && avg.every((v) => {
    const u = usage(v.model, v.dataset);
    return u && near(v.avg_tokens, v.kind === 'output' ? u.avg_output_tokens : u.avg_prompt_tokens);
  }), 'average-tokens panel = results.json usage averages');
  const perModel = {};
  for (const v of panelValues(data, 'reasoning-length')) perModel[v.model] = (perModel[v.model] || 0) + v.items;
  const usageItems = {};
  for (const u of results.usage) usageItems[u.model] = (usageItems[u.model] || 0) + u.items;
  check(JSON.stringify(Object.entries(perModel).sort()) === JSON.stringify(Object.entries(usageItems).sort()),
    'reasoning-length bins hold every item once (results.json usage items)');

  const gaps = panelValues(data, 'gap');
  if (results.generalization_gap.length === 0) {
    check(gaps.some((v) => typeof v.line === 'string' && v.line.startsWith('No generalization gap')), 'gap panel says why there is no gap');
  } else {
    check(gaps.length === results.generalization_gap.length && results.generalization_gap.every((g) =>
      gaps.some((v) => v.model === g.model && v.dataset === g.dataset && (g.gap === null ? v.test_minus_val === null : near(v.test_minus_val, -g.gap)))),
    'gap panel = results.json generalization_gap (test − val)');
  }

  const strategies = panelValues(data, 'strategies');
  const memory = panelValues(data, 'memory');
  for (const m of results.models) {
    const attempts = m.attempt_log.attempts || [];
    const drawn = strategies.filter((v) => v.model === m.name);
    check(drawn.length === attempts.length && attempts.every((a, i) => drawn[i].strategy === a.strategy && drawn[i].outcome === a.outcome),
      `strategies panel = attempt log of ${m.name} (${attempts.map((a) => a.strategy + ':' + a.outcome).join(', ')})`);
    const ok = m.attempt_log.succeeded;
    if (ok !== null && ok !== undefined) {
      const host = memory.find((v) => v.model === m.name && v.measure === 'host peak');
      const init = memory.find((v) => v.model === m.name && v.measure === 'init');
      check(host && host.bytes === attempts[ok].peak_rss_bytes && init && near(init.init_ms, attempts[ok].init_ms),
        `memory panel = attempt log of ${m.name}: peak_rss_bytes ${attempts[ok].peak_rss_bytes}, init_ms ${attempts[ok].init_ms}`);
    }
  }
  const ds = panelValues(data, 'datasets');
  const types = panelValues(data, 'question-types');
  for (const [name, c] of Object.entries(results.extra_counts || {})) {
    const invalid = ds.find((v) => v.dataset === name && v.kind === 'invalid lines');
    const items = ds.filter((v) => v.dataset === name && v.kind !== 'invalid lines').reduce((s, v) => s + v.count, 0);
    const typed = types.filter((v) => v.dataset === name).reduce((s, v) => s + v.items, 0);
    check(invalid && invalid.count === c.skipped_rows && items === c.selected && typed === c.selected,
      `dataset ${name}: ${c.selected} items, ${c.skipped_rows} invalid lines (results.json extra_counts)`);
  }
}

// Figure 5 draws fidelity.json as written: every item's answer and trace KL, the summary's
// points, the flipped items with their letters, weight bytes and accuracy per model.
function checkAgainstFidelity(data, fid) {
  const labels = fid.candidates.map((c) => c.model.label);
  const cand = (label) => fid.candidates[labels.indexOf(label)];
  const item = (c, id) => c.items.find((i) => i.id === id);
  const kl = panelValues(data, 'fidelity-kl');
  const items = fid.candidates.reduce((n, c) => n + c.items.length, 0);
  check(kl.length === 2 * items && kl.every((v) => {
    const c = cand(v.candidate);
    const it = c && item(c, v.id);
    return it && v.kl === it[v.source];
  }), `fidelity-kl panel = fidelity.json items[].answer_kl and trace_kl_mean (${items} items)`);
  const flips = panelValues(data, 'fidelity-flips');
  const flipped = fid.candidates.flatMap((c) => c.summary.flipped.map((id) => [c.model.label, id]));
  if (flipped.length === 0) {
    check(flips.some((v) => typeof v.line === 'string' && v.line.startsWith('No answer flips')), 'fidelity-flips panel says there is no flip');
  } else {
    check(flips.length === flipped.length && flipped.every(([label, id], i) => {
      const it = item(cand(label), id);
      return flips[i].candidate === label && flips[i].id === id && flips[i].reference_choice === it.reference_choice &&
        flips[i].candidate_choice === it.candidate_choice;
    }), `fidelity-flips panel = summary.flipped with the items' letters (${flipped.length})`);
  }
  const size = panelValues(data, 'fidelity-size');
  const ref = fid.candidates[0].summary.reference_accuracy;
  check(size.length === fid.candidates.length + 1 && size[0].weight_bytes === fid.reference.use.weight_bytes &&
    near(size[0].accuracy, ref.accuracy) && fid.candidates.every((c, i) =>
    size[i + 1].weight_bytes === c.use.weight_bytes && near(size[i + 1].accuracy, c.summary.candidate_accuracy.accuracy)),
  'fidelity-size panel = fidelity.json use.weight_bytes and accuracies');
}
