// Cumulative spend over a window as inline SVG: what was spent so far, the forecast's p50
// and p10–p90 band to the window's end, the limit, and now. Data: GET /_meter/chart.
const NS = 'http://www.w3.org/2000/svg';
const H = 260;
const M = { l: 62, r: 14, t: 14, b: 30 };

function node(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A round upper bound for the y axis, and its tick step (1, 2 or 5 × 10^n). */
function niceScale(max) {
  const raw = Math.max(max, 1e-6) / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  return { top: Math.ceil(max / step) * step || step, step };
}

/** The symbols of src/core/money.ts (test/unit/http/status-money.test.ts keeps them equal); other codes print as `CODE `. */
const SYMBOLS = { USD: '$', CNY: '¥', EUR: '€', GBP: '£', JPY: 'JP¥', HKD: 'HK$' };
export const symbol = (currency) => SYMBOLS[currency] ?? `${currency} `;

/** An amount of `currency`: grouped, 2 decimals, 4 below 1 so small budgets do not read as 0.00; null is a dash. */
export function money(v, currency) {
  if (v === null || v === undefined) return '—';
  const digits = Math.abs(v) < 1 && v !== 0 ? 4 : 2;
  const abs = Math.abs(v).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return `${v < 0 ? '-' : ''}${symbol(currency)}${abs}`;
}

function tick(v, step, currency) {
  const decimals = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step)));
  return `${symbol(currency)}${v.toFixed(decimals)}`;
}

/** Hour ticks for windows up to two days, day ticks beyond. */
function timeTicks(start, end) {
  const span = end - start;
  const hour = 3_600_000;
  const step = span <= 2 * 86_400_000 ? (span <= 12 * hour ? hour : 3 * hour) : 86_400_000 * Math.ceil(span / (8 * 86_400_000));
  const out = [];
  const first = new Date(start);
  if (step < 86_400_000) first.setMinutes(0, 0, 0);
  else first.setHours(0, 0, 0, 0);
  for (let t = first.getTime(); t <= end; t += step) if (t >= start) out.push(t);
  const hm = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  return {
    ticks: out,
    label: (t) =>
      step < 86_400_000 ? new Date(t).toLocaleTimeString([], hm) : new Date(t).toLocaleDateString([], { month: 'short', day: 'numeric' }),
  };
}

/** Draws at the element's own width, so text stays at its CSS size on any screen. */
export function drawChart(svg, data) {
  const W = Math.max(480, Math.round(svg.getBoundingClientRect().width) || 760);
  const start = Date.parse(data.window.start);
  const end = Date.parse(data.window.end);
  const now = Date.parse(data.now);
  const spent = data.spent.map(([t, v]) => [Date.parse(t), v]);
  const fc = data.forecast ? data.forecast.points.map(([t, a, b, c]) => [Date.parse(t), a, b, c]) : [];
  const last = spent.length ? spent[spent.length - 1][1] : 0;
  // Every amount of the answer is in data.currency (the budget's; USD for all traffic).
  const cur = data.currency;
  const fmt = (v) => money(v, cur);
  const peak = Math.max(last, data.limit ?? 0, ...fc.map((p) => p[3]));
  const { top, step } = niceScale(peak * 1.08);
  const x = (t) => M.l + ((t - start) / Math.max(1, end - start)) * (W - M.l - M.r);
  const y = (v) => H - M.b - (v / top) * (H - M.t - M.b);
  const line = (pts, q) => pts.map((p, i) => `${i ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[q]).toFixed(1)}`).join(' ');

  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.dataset.currency = cur;
  svg.dataset.spent = String(last);
  svg.dataset.limit = data.limit === null ? '' : String(data.limit);
  svg.dataset.p50End = fc.length ? String(fc[fc.length - 1][2]) : '';
  const parts = [];
  for (let v = 0; v <= top + step / 2; v += step) {
    parts.push(node('line', { x1: M.l, x2: W - M.r, y1: y(v), y2: y(v), class: 'grid' }));
    parts.push(node('text', { x: M.l - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, tick(v, step, cur)));
  }
  const { ticks, label } = timeTicks(start, end);
  // The last tick (often the window's end) is right-aligned so it is not cut off.
  for (const t of ticks)
    parts.push(
      node('text', { x: x(t), y: H - M.b + 18, class: 'tick', 'text-anchor': t > end - (end - start) * 0.03 ? 'end' : 'middle' }, label(t)),
    );
  if (fc.length > 1) {
    const band = `${line(fc, 3)} ${fc
      .slice()
      .reverse()
      .map((p) => `L${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`)
      .join(' ')} Z`;
    parts.push(node('path', { d: band, class: 'band' }));
    parts.push(node('path', { d: line(fc, 2), class: 'p50' }));
  }
  if (data.limit !== null) {
    parts.push(node('line', { x1: M.l, x2: W - M.r, y1: y(data.limit), y2: y(data.limit), class: 'limit' }));
    parts.push(node('text', { x: M.l + 6, y: y(data.limit) - 5, class: 'limit-label' }, `limit ${fmt(data.limit)}`));
  }
  parts.push(node('line', { x1: x(now), x2: x(now), y1: M.t, y2: H - M.b, class: 'now' }));
  parts.push(node('path', { d: line(spent, 1), class: 'spent' }));
  parts.push(node('circle', { cx: x(now), cy: y(last), r: 3.5, class: 'spent-dot' }));
  parts.push(node('line', { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b, class: 'axis' }));
  svg.replaceChildren(...parts);
  const title = data.budget === null ? 'all traffic' : `${data.budget}${data.instance === '*' ? '' : ` (${data.instance})`}`;
  const p50 = fc.length
    ? ` · forecast p50 ${fmt(fc[fc.length - 1][2])} (p10–p90 ${fmt(fc[fc.length - 1][1])}–${fmt(fc[fc.length - 1][3])})`
    : data.forecast_status && data.forecast_status !== 'computed'
      ? ' · forecast not computed yet'
      : '';
  svg.dataset.forecastStatus = data.forecast_status ?? '';
  return `${title}, window ${data.window.id}: spent ${fmt(last)}${data.limit === null ? '' : ` of ${fmt(data.limit)}`}${p50}`;
}
