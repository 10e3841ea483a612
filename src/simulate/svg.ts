/**
 * The simulate chart, as a standalone SVG (no dependencies, pure): one panel per budget
 * instance, x = simulated time, y = the budget's currency (tokens for token-only budgets). Cumulative spend
 * per window (solid, restarting at each window), the limit (dashed), the forecast of the
 * window's total (p50 dotted, p10–p90 band) as it was at each hour, a strip under the plot
 * for hours with throttled or refused requests, and a mark where a window was exhausted.
 */
import { currencySymbol } from '../core/money.ts';
import { DAY_MS, HOUR_MS } from '../core/time.ts';
import type { InstanceResult, Sample, SimResult } from './types.ts';
import { tickLabel } from './time.ts';

const W = 1000;
const PANEL_H = 340;
const HEADER_H = 52;
const L = 84;
const R = 24;
const P50_STYLE = 'stroke-width="2.2" stroke-dasharray="0.1 4" stroke-linecap="round"';
const C = {
  spend: '#1f5fbf',
  limit: '#c62828',
  forecast: '#e07b00',
  throttled: '#f2a900',
  refused: '#c62828',
  grid: '#e6e6e6',
  axis: '#555',
  text: '#222',
};

export function renderSvg(res: SimResult, opts: { title: string; subtitle?: string; day0: number }): string {
  const panels = res.instances.length === 0 ? [] : res.instances;
  const h = HEADER_H + Math.max(1, panels.length) * PANEL_H;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${W}" height="${h}" fill="#ffffff"/>`,
    `<text x="16" y="22" font-size="16" font-weight="bold" fill="${C.text}">${esc(opts.title)}</text>`,
    `<text x="16" y="40" font-size="12" fill="${C.axis}">${esc(opts.subtitle ?? '')}</text>`,
  ];
  if (panels.length === 0)
    out.push(`<text x="${W / 2}" y="${HEADER_H + PANEL_H / 2}" text-anchor="middle" fill="${C.text}">no budgets in the config</text>`);
  for (const [i, inst] of panels.entries()) out.push(panel(inst, i, HEADER_H + i * PANEL_H, res.from, res.to, opts.day0));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function panel(inst: InstanceResult, index: number, top: number, from: number, to: number, day0: number): string {
  const plotTop = top + 62;
  const plotBottom = top + PANEL_H - 62;
  const stripTop = plotBottom + 6;
  const currency = inst.currency;
  const fmt = currency === null ? tokens : (v: number) => money(v, currency);
  const maxSpent = Math.max(0, ...inst.samples.map((s) => s.spent));
  const maxP90 = Math.max(0, ...inst.samples.map((s) => s.p90 ?? 0));
  // The band can be wide on a cold start: let it widen the axis only up to twice the action.
  const span = Math.max(inst.limit * 1.15, maxSpent * 1.05, Math.min(maxP90, 2 * Math.max(inst.limit, maxSpent)));
  const step = niceStep(span / 5);
  const yMax = Math.max(step, Math.ceil(span / step) * step);
  const x = (t: number) => L + ((t - from) / Math.max(1, to - from)) * (W - L - R);
  const y = (v: number) => plotBottom - (Math.min(v, yMax) / yMax) * (plotBottom - plotTop);
  const clip = `clip${index}`;
  const o: string[] = [
    `<g>`,
    `<clipPath id="${clip}"><rect x="${L}" y="${plotTop}" width="${W - L - R}" height="${plotBottom - plotTop}"/></clipPath>`,
  ];
  const who = inst.instance === '*' ? '' : ` [${inst.scope.slice(4)} ${inst.instance}]`;
  o.push(
    `<text x="${L}" y="${top + 22}" font-size="14" font-weight="bold" fill="${C.text}">${esc(`${inst.budget}${who}: ${inst.window} window, ${inst.action}, limit ${fmt(inst.limit)}`)}</text>`,
  );
  o.push(legend(top + 44));
  // Grid and axes.
  for (let v = 0; v <= yMax + step / 2; v += step) {
    o.push(`<line x1="${L}" x2="${W - R}" y1="${r(y(v))}" y2="${r(y(v))}" stroke="${C.grid}"/>`);
    o.push(`<text x="${L - 6}" y="${r(y(v) + 4)}" text-anchor="end" fill="${C.axis}">${esc(fmt(v))}</text>`);
  }
  for (const t of xTicks(from, to)) {
    o.push(`<line x1="${r(x(t))}" x2="${r(x(t))}" y1="${plotTop}" y2="${plotBottom}" stroke="${C.grid}"/>`);
    o.push(`<text x="${r(x(t))}" y="${stripTop + 26}" text-anchor="middle" fill="${C.axis}">${esc(tickLabel(t, day0))}</text>`);
  }
  o.push(`<line x1="${L}" x2="${W - R}" y1="${plotBottom}" y2="${plotBottom}" stroke="${C.axis}"/>`);
  o.push(`<line x1="${L}" x2="${L}" y1="${plotTop}" y2="${plotBottom}" stroke="${C.axis}"/>`);
  o.push(
    `<text x="18" y="${r((plotTop + plotBottom) / 2)}" text-anchor="middle" fill="${C.axis}" transform="rotate(-90 18 ${r((plotTop + plotBottom) / 2)})">${currency === null ? 'tokens in window' : `${currency} spent in window`}</text>`,
  );
  // Forecast band and p50, then spend on top.
  // Band, limit, p50, spend: the p50 often sits on the limit (pacing aims there) and must stay visible.
  const g = [`<g clip-path="url(#${clip})">`];
  const forecast = segments(inst.samples, (s) => s.p50 !== null);
  for (const seg of forecast) {
    const upper = seg.map((s) => `${r(x(s.t))},${r(y(s.p90 ?? 0))}`);
    const lower = seg.map((s) => `${r(x(s.t))},${r(y(s.p10 ?? 0))}`).reverse();
    g.push(`<polygon points="${[...upper, ...lower].join(' ')}" fill="${C.forecast}" fill-opacity="0.15" stroke="none"/>`);
  }
  g.push(
    `<line x1="${L}" x2="${W - R}" y1="${r(y(inst.limit))}" y2="${r(y(inst.limit))}" stroke="${C.limit}" stroke-width="1.6" stroke-dasharray="8 5"/>`,
  );
  for (const seg of forecast) {
    g.push(
      `<polyline points="${seg.map((s) => `${r(x(s.t))},${r(y(s.p50 ?? 0))}`).join(' ')}" fill="none" stroke="${C.forecast}" ${P50_STYLE}/>`,
    );
  }
  for (const seg of segments(inst.samples, () => true)) {
    g.push(
      `<polyline points="${seg.map((s) => `${r(x(s.t))},${r(y(s.spent))}`).join(' ')}" fill="none" stroke="${C.spend}" stroke-width="2.2" stroke-linejoin="round"/>`,
    );
  }
  g.push('</g>');
  o.push(...g);
  for (const w of inst.windows) {
    if (w.exhaustedAt === null) continue;
    const cx = r(x(w.exhaustedAt));
    const cy = r(y(inst.limit));
    o.push(
      `<path d="M ${cx} ${r(cy - 6)} L ${r(cx + 6)} ${cy} L ${cx} ${r(cy + 6)} L ${r(cx - 6)} ${cy} Z" fill="${C.refused}" stroke="#fff" stroke-width="1"/>`,
    );
  }
  // Refusals strip: one cell per hour, opacity by the share of that hour's requests refused.
  o.push(`<rect x="${L}" y="${stripTop}" width="${W - L - R}" height="9" fill="#f4f4f4"/>`);
  const hourPx = Math.max(1, x(from + HOUR_MS) - x(from));
  for (const hr of inst.hours) {
    const refused = hr.throttled + hr.refused;
    if (refused === 0) continue;
    const share = refused / (refused + hr.admitted);
    const color = hr.refused > 0 ? C.refused : C.throttled;
    o.push(
      `<rect x="${r(x(hr.t))}" y="${stripTop}" width="${r(hourPx)}" height="9" fill="${color}" fill-opacity="${(0.3 + 0.7 * share).toFixed(2)}"/>`,
    );
  }
  o.push('</g>');
  return o.join('\n');
}

function legend(yy: number): string {
  const items: [string, string][] = [
    [`<line x1="0" x2="26" y1="0" y2="0" stroke="${C.spend}" stroke-width="2.2"/>`, 'spent'],
    [`<line x1="0" x2="26" y1="0" y2="0" stroke="${C.limit}" stroke-width="1.6" stroke-dasharray="8 5"/>`, 'limit'],
    [
      `<rect x="0" y="-6" width="26" height="12" fill="${C.forecast}" fill-opacity="0.15"/><line x1="1" x2="25" y1="0" y2="0" stroke="${C.forecast}" ${P50_STYLE}/>`,
      'forecast total p50 (p10–p90)',
    ],
    [`<rect x="0" y="-5" width="26" height="9" fill="${C.throttled}"/>`, 'throttled (hour)'],
    [`<rect x="0" y="-5" width="26" height="9" fill="${C.refused}"/>`, 'refused (hour)'],
    [`<path d="M 13 -6 L 19 0 L 13 6 L 7 0 Z" fill="${C.refused}"/>`, 'exhausted'],
  ];
  const widths = [80, 76, 210, 140, 130, 90];
  let xx = L;
  return items
    .map(([mark, label], i) => {
      const s = `<g transform="translate(${xx} ${yy})">${mark}<text x="32" y="4" fill="${C.text}">${esc(label)}</text></g>`;
      xx += widths[i] ?? 100;
      return s;
    })
    .join('\n');
}

/** Runs of consecutive samples of one window that pass `keep`. */
function segments(samples: readonly Sample[], keep: (s: Sample) => boolean): Sample[][] {
  const out: Sample[][] = [];
  let cur: Sample[] = [];
  let id: string | null = null;
  for (const s of samples) {
    if (!keep(s) || s.windowId !== id) {
      if (cur.length > 1) out.push(cur);
      cur = [];
    }
    id = s.windowId;
    if (keep(s)) cur.push(s);
  }
  if (cur.length > 1) out.push(cur);
  return out;
}

/** Midnights (every k days, at most ~14 ticks); 3-hourly for runs of two days or less. */
function xTicks(from: number, to: number): number[] {
  const days = (to - from) / DAY_MS;
  const step = days <= 2 ? 3 * HOUR_MS : Math.max(1, Math.ceil(days / 14)) * DAY_MS;
  const out: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) out.push(t);
  return out;
}

function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
}

function money(v: number, currency: string): string {
  const s = currencySymbol(currency);
  if (v === 0) return `${s}0`;
  return v >= 100 ? `${s}${Math.round(v).toLocaleString('en-US')}` : v >= 1 ? `${s}${+v.toFixed(2)}` : `${s}${+v.toFixed(4)}`;
}

function tokens(v: number): string {
  return v >= 1e6 ? `${+(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${+(v / 1e3).toFixed(1)}k` : String(Math.round(v));
}

function r(v: number): number {
  return Math.round(v * 10) / 10;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
