// The status page: reads the proxy's JSON admin routes and renders them. No framework and
// no build step; every value from clients (tags, model names) goes in through textContent.
import { drawChart, money } from './chart.js';

const TOKEN = 'claude-meter-admin-token';
const INTERVAL = 'claude-meter-refresh-s';
const $ = (id) => document.getElementById(id);
let timer = null;
let refreshes = 0;
let lastChart = null;

class Unauthorized extends Error {}

/**
 * The admin token, when the proxy has one. It lives in sessionStorage (this tab only, gone
 * when it closes) and may arrive once as #token=… in the address: a fragment never reaches a
 * server log or a Referer header, and it is removed from the address bar at once.
 */
function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(TOKEN, decodeURIComponent(m[1]));
  history.replaceState(null, '', location.pathname + location.search);
}

async function get(path) {
  const t = sessionStorage.getItem(TOKEN);
  const res = await fetch(path, { headers: t ? { authorization: `Bearer ${t}` } : {}, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized();
  // health answers 503 with its body when the store is unreachable: still worth showing.
  if (!res.ok && !(path === 'health' && res.status === 503)) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

/** Usage totals: the metering store sums cost in USD. Budget amounts are in each budget's own currency. */
export const usd = (v) => money(v, 'USD');
const int = (n) => Number(n).toLocaleString('en-US');
const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
/** The time, with the date in front when it is not today. */
const when = (iso) =>
  new Date(iso).toDateString() === new Date().toDateString()
    ? time(iso)
    : `${new Date(iso).toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time(iso)}`;
const RECENT = 10;

/** An element with attributes and children (strings become text nodes, never HTML). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  e.append(...children.map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
  return e;
}
const num = (field, value, text, cls = 'n') => el('td', { class: cls, 'data-field': field, 'data-value': value }, text);
/** A bar of `share` (0..1); its width set through CSSOM, which the page's CSP allows (style attributes it does not). */
function barSpan(share, cls = '') {
  const s = el('span', { class: `bar ${cls}` });
  s.style.width = `${Math.round(Math.max(0, Math.min(1, share)) * 100)}%`;
  return s;
}
const bar = (share) => el('td', { class: 'barcell' }, barSpan(share));

function localMidnight() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

function renderTotals(top, recent) {
  const t = top.total;
  const set = (id, value, text) => Object.assign($(id), { textContent: text }).setAttribute('data-value', value);
  set('total-cost', t.cost_usd, usd(t.cost_usd));
  set('total-requests', t.requests, int(t.requests));
  set('total-errors', t.errors, int(t.errors));
  set('total-429', recent.rows.length, int(recent.rows.length) + (recent.rows.length === RECENT ? '+' : ''));
  const k = t.tokens;
  $('total-tokens').textContent =
    `${int(k.input)} / ${int(k.output)} / ${int(k.cache_creation_5m + k.cache_creation_1h)} / ${int(k.cache_read)}`;
}

/** A token-only budget: its limit is in tokens, and its money columns say nothing it is judged by. */
const tokenOnly = (b) => b.limit === null && b.limit_tokens !== null;

function renderBudgets(budgets, forecasts) {
  const fc = new Map(forecasts.map((f) => [`${f.budget}|${f.instance}`, f]));
  const rows = budgets.map((b) => {
    const f = fc.get(`${b.budget}|${b.instance}`);
    const p = f ? f.projected : null;
    // Every amount of a row (and of its forecast) is in the budget's currency.
    const m = (v) => money(v, b.currency);
    const used = b.limit ? (b.spent + b.reserved) / b.limit : b.limit_tokens ? (b.spent_tokens + b.reserved_tokens) / b.limit_tokens : 0;
    // A projection not computed yet says so: never zeros, and never a dash that reads as "no forecast".
    const band = p ? `${m(p.p10)} · ${m(p.p50)} · ${m(p.p90)}` : f ? 'not computed yet' : '—';
    const limit = b.limit !== null ? m(b.limit) : b.limit_tokens !== null ? `${int(b.limit_tokens)} tokens` : '—';
    return el(
      'tr',
      { 'data-budget': b.budget, 'data-instance': b.instance, 'data-currency': b.currency },
      el('td', {}, b.budget),
      el('td', { class: 'mono' }, b.instance),
      el('td', {}, `${b.window.spec} · ${b.window.id}`),
      el('td', {}, b.action),
      num('spent', b.spent, tokenOnly(b) ? `${int(b.spent_tokens)} tok` : m(b.spent)),
      num('reserved', b.reserved, m(b.reserved)),
      el(
        'td',
        { class: p ? 'n' : 'n muted', 'data-field': 'projected_p50', 'data-value': p ? p.p50 : '', 'data-status': f ? f.status : '' },
        band,
      ),
      num('limit', b.limit ?? '', limit),
      el('td', { class: 'barcell' }, barSpan(used, b.status), el('small', {}, ` ${Math.round(used * 100)}%`)),
      el('td', { 'data-field': 'status' }, el('span', { class: `status ${b.status}` }, b.status)),
    );
  });
  $('budgets').tBodies[0].replaceChildren(...rows);
  $('budgets-empty').hidden = budgets.length > 0;
  // What a young projection rests on (or why there is none), in the forecaster's own words.
  const notes = forecasts.filter((f) => f.note && (f.status !== 'computed' || f.cold_start));
  $('forecast-notes').replaceChildren(
    ...notes.map((f) =>
      el(
        'p',
        { class: 'note', 'data-budget': f.budget, 'data-instance': f.instance, 'data-status': f.status },
        `${f.budget}${f.instance === '*' ? '' : ` (${f.instance})`}: ${f.note}`,
      ),
    ),
  );
}

/** How sure the reading is: proven by the upstream's responses, fixed in the config, or assumed (openai) until proven. */
const semanticsState = (s) => (s.proven ? 'proven' : s.configured !== 'auto' ? 'configured' : 'assumed');

/**
 * One row per upstream, shown only when there is something to tell apart: more than one
 * upstream, or one billing in another currency than the list price's dollars.
 */
function renderUpstreams(upstreams) {
  const show = upstreams.length > 1 || upstreams.some((u) => u.currency !== 'USD');
  $('upstreams-panel').hidden = !show;
  if (!show) return;
  const rows = upstreams.map((u) => {
    const own = u.billed[u.currency];
    // Its own currency first; another only if a reload changed the currency today.
    const others = Object.entries(u.billed).filter(([c]) => c !== u.currency);
    const billed = [money(own ? own.amount : 0, u.currency), ...others.map(([c, b]) => money(b.amount, c))].join(' + ');
    const unpriced = u.billed_unpriced > 0 ? ` (${int(u.billed_unpriced)} unpriced)` : '';
    const s = u.usage_semantics;
    const state = semanticsState(s);
    return el(
      'tr',
      { 'data-value': u.name, 'data-currency': u.currency },
      el('td', { class: 'mono' }, u.name),
      el('td', {}, u.api),
      el('td', { class: 'mono', 'data-field': 'route' }, u.route ?? 'default'),
      num('requests', u.requests, int(u.requests)),
      num('cost_usd', u.cost_usd, usd(u.cost_usd)),
      num('billed', own ? own.amount : 0, billed + unpriced),
      el(
        'td',
        { 'data-field': 'semantics', 'data-semantics': s.semantics, 'data-state': state, title: s.evidence },
        `${s.semantics} `,
        el('span', { class: `status ${state}` }, state),
      ),
    );
  });
  $('upstreams').tBodies[0].replaceChildren(...rows);
}

function renderRanked(id, rows, cols) {
  const max = Math.max(1e-12, ...rows.map((r) => r.cost_usd));
  $(id).tBodies[0].replaceChildren(
    ...rows.map((r) =>
      el(
        'tr',
        { 'data-value': r.value },
        el('td', { class: 'mono' }, r.value === '' ? '(untagged)' : r.value),
        ...cols(r),
        num('cost_usd', r.cost_usd, usd(r.cost_usd)),
        bar(r.cost_usd / max),
      ),
    ),
  );
}

function renderRecent(recent) {
  $('recent').tBodies[0].replaceChildren(
    ...recent.rows.map((r) =>
      el(
        'tr',
        { 'data-id': r.id, 'data-reason': r.reason },
        el('td', { class: 'nowrap' }, when(r.time)),
        el('td', { 'data-field': 'detail' }, r.detail),
        el('td', { class: 'mono' }, r.key_id),
        el('td', {}, r.tag || '—'),
        el('td', { class: 'mono' }, r.model ?? '—'),
        el('td', { class: 'mono' }, r.path),
      ),
    ),
  );
  $('recent-empty').hidden = recent.rows.length > 0;
}

function renderHealth(h) {
  const badge = $('health-badge');
  badge.dataset.state = h.status;
  badge.textContent = h.status === 'ok' ? `store ${h.store.kind}: ok` : `store ${h.store.kind}: ${h.store.detail ?? 'unreachable'}`;
  $('meta').textContent = `v${h.version} · prices ${h.pricing_version}`;
  const r = h.recorder ?? {};
  const pairs = [
    ['store', h.store.kind],
    ['reachable', h.store.reachable ? 'yes' : `no${h.store.detail ? ` (${h.store.detail})` : ''}`],
    ['records written', r.written],
    ['pending', r.pending],
    ['journaled (waiting for the store)', r.journaled],
    ['dropped', r.dropped],
    ['write failures', r.failures],
    ['upstream', h.upstream],
    ...(h.reconcile?.enabled ? [['reconciliation', reconcileText(h.reconcile)]] : []),
  ];
  $('health').replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-field': k.split(' ')[0] }, v ?? '—')]));
}

/** The capture ratio of the latest check against Anthropic's usage report (docs/reconcile.md). */
function reconcileText(r) {
  if (r.checked_at === null) return r.error ? `no check yet: ${r.error}` : 'no check yet';
  const hhmm = (iso) => iso.slice(11, 16);
  const capture = r.capture === null ? 'Anthropic reports no usage' : `capture ${(r.capture * 100).toFixed(1)}% of Anthropic's usage`;
  const stale = r.error ? ` · last check failed: ${r.error}` : '';
  const hours = Math.round((Date.parse(r.to) - Date.parse(r.from)) / 3_600_000);
  return `${capture} (${hours} h to ${hhmm(r.to)} UTC, checked ${hhmm(r.checked_at)} UTC)${stale}`;
}

/** The chart's subject: the chosen budget instance, else the first spend budget with a day window, else all traffic today. */
function chartOptions(budgets) {
  const select = $('chart-choice');
  const spendBudgets = budgets.filter((b) => !tokenOnly(b));
  const values = [...spendBudgets.map((b) => `${b.budget}|${b.instance}`), ''];
  const previous = select.value;
  select.replaceChildren(
    ...spendBudgets.map((b) =>
      el(
        'option',
        { value: `${b.budget}|${b.instance}` },
        `${b.budget}${b.instance === '*' ? '' : ` (${b.instance})`} · ${b.window.spec} · ${b.currency}`,
      ),
    ),
    el('option', { value: '' }, 'all traffic today'),
  );
  const day = spendBudgets.find((b) => b.window.spec === 'day');
  select.value = values.includes(previous) && previous !== '' ? previous : day ? `${day.budget}|${day.instance}` : values[0];
  return select.value;
}

async function refresh() {
  clearTimeout(timer);
  try {
    const from = localMidnight();
    const [health, budgets, forecast, top, recent] = await Promise.all([
      get('health'),
      get('budgets'),
      get('forecast'),
      get(`top?from=${from}&limit=10`),
      get(`recent?status=429&limit=${RECENT}`),
    ]);
    const choice = chartOptions(budgets.budgets);
    const [budget, instance] = choice.split('|');
    const chart = await get(
      choice ? `chart?budget=${encodeURIComponent(budget)}&instance=${encodeURIComponent(instance)}` : `chart?from=${from}`,
    );
    $('content').hidden = false; // before drawing: the chart measures its width
    renderHealth(health);
    renderTotals(top, recent);
    renderUpstreams(top.upstreams ?? []);
    renderBudgets(budgets.budgets, forecast.forecasts);
    renderRanked('models', top.models, (r) => [
      num('requests', r.requests, int(r.requests)),
      num('input', r.tokens.input, int(r.tokens.input)),
      num('output', r.tokens.output, int(r.tokens.output)),
      num('cache_read', r.tokens.cache_read, int(r.tokens.cache_read)),
    ]);
    renderRanked('keys', top.key_ids, (r) => [num('requests', r.requests, int(r.requests))]);
    renderRanked('tags', top.tags, (r) => [num('requests', r.requests, int(r.requests))]);
    renderRecent(recent);
    lastChart = chart;
    $('chart-title').textContent = drawChart($('chart'), chart);
    $('chart-note').textContent = [
      chart.source === 'budget_history'
        ? "spent: the budget's own hourly history (its filters span several dimensions), which also counts refused demand"
        : '',
      chart.forecast_note ? `forecast ${chart.forecast_note}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    $('login').hidden = true;
    $('error').hidden = true;
    $('updated').textContent = `updated ${time(new Date().toISOString())}`;
    document.body.dataset.refreshes = String(++refreshes);
  } catch (err) {
    if (err instanceof Unauthorized) {
      const had = sessionStorage.getItem(TOKEN) !== null;
      sessionStorage.removeItem(TOKEN);
      $('content').hidden = true;
      $('login').hidden = false;
      $('login-error').textContent = had ? 'that token was refused' : '';
      $('token').focus();
      return; // no polling with a missing token: wait for the form
    }
    $('error').hidden = false;
    $('error').textContent = `cannot refresh: ${err.message}`;
  }
  const s = Number($('interval').value);
  if (s > 0) timer = setTimeout(refresh, s * 1000);
}

takeTokenFromFragment();
$('interval').value = localStorage.getItem(INTERVAL) ?? '10';
$('interval').addEventListener('change', () => {
  localStorage.setItem(INTERVAL, $('interval').value);
  void refresh();
});
$('chart-choice').addEventListener('change', () => void refresh());
window.addEventListener('resize', () => lastChart && drawChart($('chart'), lastChart));
$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN, $('token').value);
  $('token').value = '';
  void refresh();
});
void refresh();
