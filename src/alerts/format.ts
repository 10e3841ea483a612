/**
 * Webhook body for an alert: every event field, plus a one-line `text` so Slack (and
 * anything Slack-compatible) shows a readable message without a custom template.
 * Pure: no I/O, no clock.
 */
import { currencySymbol, USD } from '../core/money.ts';
import type { AlertEvent, BudgetThresholdAlert, SpendSpikeAlert } from './types.ts';

export type AlertPayload = AlertEvent & { text: string };

export function alertPayload(e: AlertEvent): AlertPayload {
  return { ...e, text: alertText(e) };
}

export function alertText(e: AlertEvent): string {
  return e.kind === 'budget_threshold' ? thresholdText(e) : spikeText(e);
}

function thresholdText(e: BudgetThresholdAlert): string {
  const where = e.instance === '*' ? 'global' : `instance ${field(e.instance)}`;
  const head = `:warning: claude-meter: budget '${field(e.budget)}' (${where}, window ${field(e.window.id)})`;
  const pct = `${fmtNumber(e.threshold * 100, 1)}%`;
  // With both limits set we cannot know which one crossed: report the fuller one, since
  // "80% of $50: spent $10" would read as a contradiction.
  const moneyRatio = e.limit !== null && e.limit > 0 ? e.spent / e.limit : -1;
  const tokRatio = e.limit_tokens !== null && e.limit_tokens > 0 ? e.spent_tokens / e.limit_tokens : -1;
  if (e.limit_tokens !== null && tokRatio > moneyRatio) {
    return `${head} reached ${pct} of ${fmtTokens(e.limit_tokens)}: spent ${fmtTokens(e.spent_tokens)}`;
  }
  const money = (n: number) => fmtMoney(n, e.currency);
  if (e.limit !== null) return `${head} reached ${pct} of ${money(e.limit)}: spent ${money(e.spent)}`;
  return `${head} reached ${pct}: spent ${money(e.spent)}`;
}

function spikeText(e: SpendSpikeAlert): string {
  let s =
    `:rotating_light: claude-meter: spend spike on budget '${field(e.budget)}': ` +
    `${fmtMoney(e.rate_per_hour, e.currency)}/h vs expected ${fmtMoney(e.expected_per_hour, e.currency)}/h ` +
    `(${fmtNumber(e.multiple, 1)}×)`;
  if (e.instance !== '*') s += `, instance ${field(e.instance)}`;
  // The key id is only a hash prefix, but a chat channel needs no more than a hint; the
  // full value stays in the JSON body for tooling.
  if (e.offender.key_id !== undefined) s += `, key ${field(truncate(e.offender.key_id, 4))}`;
  if (e.offender.tag !== undefined) s += `, tag ${field(e.offender.tag)}`;
  return s;
}

/**
 * An amount of `currency` with its symbol (`$`, `¥`, `CHF `), grouped, 2 decimals; 4 for
 * non-zero amounts under a hundredth so tiny budgets don't read as $0.00.
 */
export function fmtMoney(n: number, currency: string): string {
  const symbol = currencySymbol(currency);
  if (!Number.isFinite(n)) return `${symbol}${n}`;
  const digits = n !== 0 && Math.abs(n) < 0.01 ? 4 : 2;
  const abs = new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(Math.abs(n));
  return n < 0 ? `-${symbol}${abs}` : `${symbol}${abs}`;
}

/** fmtMoney in USD. */
export function fmtUsd(n: number): string {
  return fmtMoney(n, USD);
}

function fmtTokens(n: number): string {
  return `${fmtNumber(n, 0)} tokens`;
}

/** Grouped, at most `maxDigits` decimals, trailing zeros dropped (0.7 × 100 prints as 70, not 70.00000000000001). */
function fmtNumber(n: number, maxDigits: number): string {
  if (!Number.isFinite(n)) return String(n);
  return new Intl.NumberFormat('en-US', { maximumFractionDigits: maxDigits }).format(n);
}

function truncate(s: string, max: number): string {
  return [...s].length > max ? `${[...s].slice(0, max).join('')}…` : s;
}

/**
 * Names, tags and key ids can come from request headers, i.e. from any client. Slack
 * treats `<…>` as links and mentions (`<!channel>`), so escape its three control
 * characters, keep the message on one line and bound its length.
 */
function field(s: string): string {
  const oneLine = s.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return truncate(oneLine, 80).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
