// clinbench's report page. Draws the data document embedded in #clinbench-data (built by
// clinbench in C++, docs/report.md): figures of Vega-Lite panels, tables, and the item browser.
// Every string from the data is put into the page as text (textContent, Text nodes, SVG text
// drawn by Vega), never parsed as markup. Computes nothing but formatting and filtering.
(function () {
  'use strict';

  const data = JSON.parse(document.getElementById('clinbench-data').textContent);
  window.clinbenchData = data;
  window.clinbenchViews = {};
  window.clinbenchErrors = [];
  window.clinbenchReady = false;

  // An element with properties and children; strings become Text nodes.
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = String(v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c !== undefined && c !== null && c !== false) e.append(c);
    }
    return e;
  }

  function fmt(value, format) {
    if (value === null || value === undefined || value === '') return '—';
    switch (format) {
      case 'bytes': return (value / 1048576).toFixed(1) + ' MiB';
      case 'ms': return Number(value).toFixed(1) + ' ms';
      case 'percent': return (value * 100).toFixed(1) + '%';
      case 'signed_percent': return (value >= 0 ? '+' : '') + (value * 100).toFixed(1) + '%';
      case 'p': return Number(value).toPrecision(3);
      case 'joules': return Number(value).toPrecision(4) + ' J';
      default:
        if (typeof value === 'boolean') return value ? 'yes' : 'no';
        if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(4);
        if (typeof value === 'object') return JSON.stringify(value);
        return String(value);
    }
  }

  function cell(value, format) {
    if (format === 'pre' && value !== null && value !== undefined && value !== '') {
      const text = String(value);
      if (text.length > 80 || text.includes('\n')) {
        return el('td', null, el('details', null, el('summary', { text: text.split('\n')[0].slice(0, 80) + ' …' }),
          el('pre', { text })));
      }
    }
    return el('td', { text: fmt(value, format) });
  }

  // ---------------------------------------------------------------- header and navigation
  const app = document.getElementById('app');
  const nav = el('nav');
  app.append(el('header', null,
    el('h1', { text: data.title }),
    el('p', { class: 'meta', text: [
      data.run_dir ? 'run directory ' + data.run_dir : null,
      data.run_a ? 'A: ' + data.run_a + '   B: ' + data.run_b : null,
      'generated ' + data.generated_at,
      'clinbench ' + data.clinbench.version + ' (' + data.clinbench.commit + ')',
    ].filter(Boolean).join(' · ') }),
    ...(data.notices || []).map((n) => el('p', { class: 'notice', text: n })),
    nav));
  function section(id, title, description) {
    nav.append(el('a', { href: '#' + id, text: title }));
    const s = el('section', { id }, el('h2', { text: title }));
    if (description) s.append(el('p', { class: 'desc', text: description }));
    app.append(s);
    return s;
  }

  // ---------------------------------------------------------------- figures
  const vegaConfig = {
    font: 'system-ui, -apple-system, "Segoe UI", sans-serif',
    axis: { labelFontSize: 10, titleFontSize: 11, titleFontWeight: 'normal' },
    legend: { labelFontSize: 10, titleFontSize: 10, symbolSize: 60 },
    view: { stroke: '#ddd' },
  };
  const embeds = [];
  for (const figure of data.figures || []) {
    const s = section(figure.id, figure.title);
    const grid = el('div', { class: 'grid', style: 'grid-template-columns: repeat(' + figure.columns + ', max-content)' });
    s.append(grid);
    for (const panel of figure.panels) {
      const chart = el('div', { class: 'chart' });
      grid.append(el('div', { class: 'panel', 'data-panel': panel.id, id: 'panel-' + panel.id },
        el('h3', { text: panel.title }),
        el('p', { class: 'desc', text: panel.description }),
        chart));
      embeds.push(vegaEmbed(chart, panel.spec, { renderer: 'svg', actions: false, config: vegaConfig })
        .then((result) => { window.clinbenchViews[panel.id] = result.view; })
        .catch((error) => {
          window.clinbenchErrors.push(panel.id + ': ' + error);
          chart.append(el('p', { class: 'error', text: 'This panel could not be drawn: ' + error }));
          console.error('panel ' + panel.id + ': ' + error);
        }));
    }
  }

  // ---------------------------------------------------------------- tables
  const ROWS_SHOWN = 200;
  for (const table of data.tables || []) {
    const s = section(table.id, table.title, table.description);
    const head = el('tr', null, ...table.columns.map((c) => el('th', { text: c.label || c.key })));
    const body = el('tbody');
    const fill = (limit) => {
      body.replaceChildren(...table.rows.slice(0, limit).map((r) =>
        el('tr', null, ...table.columns.map((c) => cell(r[c.key], c.format)))));
    };
    fill(ROWS_SHOWN);
    s.append(el('div', { class: 'scroll' }, el('table', { class: 'data', id: 'table-' + table.id }, el('thead', null, head), body)));
    if (table.rows.length > ROWS_SHOWN) {
      const more = el('button', { text: 'show all ' + table.rows.length + ' rows' });
      more.addEventListener('click', () => { fill(table.rows.length); more.remove(); });
      s.append(more);
    } else if (table.rows.length === 0) {
      s.append(el('p', { class: 'desc', text: 'No rows.' }));
    }
  }

  // ---------------------------------------------------------------- item browser
  if (Array.isArray(data.items)) itemBrowser(data.items);

  function itemBrowser(items) {
    const s = section('items', 'Items', 'Every stored item (samples.jsonl fields). Filter, then click a row for its full trace.');
    const PAGE = 50;
    let page = 0;
    let shown = items;
    let selected = null;
    const options = (key) => [...new Set(items.map((i) => i[key]))].sort();
    const select = (id, label, values) => el('label', null, label + ' ',
      el('select', { id }, el('option', { value: '', text: 'all' }),
        ...values.map((v) => el('option', { value: v, text: v === '' ? '(none)' : v }))));
    const filters = el('div', { class: 'filters' },
      select('items-filter-model', 'model', options('model')),
      select('items-filter-dataset', 'dataset', options('dataset')),
      select('items-filter-split', 'split', options('split')),
      select('items-filter-type', 'question type', options('question_type')),
      el('label', null, 'answer ', el('select', { id: 'items-filter-correct' },
        el('option', { value: '', text: 'all' }), el('option', { value: 'correct', text: 'correct' }),
        el('option', { value: 'wrong', text: 'wrong' }), el('option', { value: 'unscored', text: 'not scored' }))),
      el('label', null, 'search ', el('input', { id: 'items-search', type: 'search', placeholder: 'item id or answer text' })));
    const count = el('p', { id: 'items-count', class: 'desc' });
    const body = el('tbody');
    const pager = el('div', { class: 'pager' });
    const detail = el('div', { id: 'item-detail', class: 'detail' }, el('p', { class: 'desc', text: 'Click an item to see its trace.' }));
    const columns = ['model', 'dataset', 'item_id', 'split', 'question_type', 'choice', 'correct_answer', 'correct', 'tokens', 'truncated', 'error'];
    s.append(filters, count, el('div', { class: 'scroll' }, el('table', { class: 'data', id: 'items-table' },
      el('thead', null, el('tr', null, ...columns.map((c) => el('th', { text: c })))), body)), pager, detail);

    const value = (id) => document.getElementById(id).value;
    const tokens = (it) => it.prompt_tokens + (it.output_tokens || []).reduce((a, b) => a + b, 0);
    function apply() {
      const model = value('items-filter-model');
      const dataset = value('items-filter-dataset');
      const split = value('items-filter-split');
      const type = value('items-filter-type');
      const correct = value('items-filter-correct');
      const text = value('items-search').toLowerCase();
      shown = items.filter((it) =>
        (!model || it.model === model) && (!dataset || it.dataset === dataset) &&
        (!split || it.split === split) && (!type || it.question_type === type) &&
        (!correct || (correct === 'correct' ? it.correct === true : correct === 'wrong' ? it.correct === false : it.correct === null)) &&
        (!text || it.item_id.toLowerCase().includes(text) || (it.prediction || '').toLowerCase().includes(text)));
      page = 0;
      draw();
    }
    function draw() {
      const pages = Math.max(1, Math.ceil(shown.length / PAGE));
      page = Math.min(page, pages - 1);
      const from = page * PAGE;
      count.textContent = shown.length + ' of ' + items.length + ' items';
      body.replaceChildren(...shown.slice(from, from + PAGE).map((it) => {
        const row = el('tr', { class: 'item' + (it === selected ? ' selected' : ''), 'data-key': it.model + '\u0000' + it.dataset + '\u0000' + it.item_id },
          ...columns.map((c) => {
            if (c === 'tokens') return el('td', { text: String(tokens(it)) });
            if (c === 'correct') return el('td', { class: it.correct === true ? 'ok' : it.correct === false ? 'bad' : '', text: it.correct === true ? '✓' : it.correct === false ? '✗' : '—' });
            return el('td', { text: fmt(it[c]) });
          }));
        row.addEventListener('click', () => { selected = it; showItem(it); draw(); });
        return row;
      }));
      pager.replaceChildren(
        el('button', { text: '‹ previous', disabled: page === 0 ? '' : null, onclick: () => { page -= 1; draw(); } }),
        el('span', { text: ' page ' + (page + 1) + ' of ' + pages + ' ' }),
        el('button', { text: 'next ›', disabled: page >= pages - 1 ? '' : null, onclick: () => { page += 1; draw(); } }));
    }
    function showItem(it) {
      const facts = el('table', { class: 'kv' });
      for (const k of ['model', 'dataset', 'item_id', 'split', 'question_type', 'scoring', 'choice', 'correct_answer', 'correct', 'extraction_rule', 'truncated', 'error', 'prompt_tokens', 'output_tokens', 'reasoning_tokens', 'ttft_ms', 'prefill_ms', 'decode_ms', 'tokens_per_s', 'finished_at']) {
        facts.append(el('tr', null, el('th', { text: k }), el('td', { text: fmt(it[k]) })));
      }
      const trace = el('div', { class: 'trace' });
      let messages = null;
      try { messages = JSON.parse(it.trace); } catch (e) { messages = null; }
      if (Array.isArray(messages)) {
        for (const m of messages) {
          trace.append(el('div', { class: 'msg ' + String(m.role) }, el('div', { class: 'role', text: String(m.role) }),
            el('pre', { text: typeof m.content === 'string' ? m.content : JSON.stringify(m.content) })));
        }
      } else {
        trace.append(el('pre', { text: it.trace }));
      }
      detail.replaceChildren(el('h3', { text: it.model + ' · ' + it.dataset + ' · ' + it.item_id }), facts,
        el('h4', { text: 'prediction' }), el('pre', { class: 'prediction', text: it.prediction }),
        el('h4', { text: 'trace' }), trace,
        el('h4', { text: 'extra' }), el('pre', { text: JSON.stringify(it.extra, null, 2) }));
    }
    for (const id of ['items-filter-model', 'items-filter-dataset', 'items-filter-split', 'items-filter-type', 'items-filter-correct']) {
      document.getElementById(id).addEventListener('change', apply);
    }
    document.getElementById('items-search').addEventListener('input', apply);
    draw();
  }

  Promise.all(embeds).then(() => {
    // Milliseconds from navigation start to every panel drawn (bench/report_bench reads it).
    window.clinbenchReadyMs = performance.now();
    window.clinbenchReady = true;
    document.body.setAttribute('data-ready', 'true');
  });
})();
