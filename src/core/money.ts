/**
 * Money is integer pico-USD (1e-12 USD) end to end; these are the only conversions to and
 * from dollars. A double appears only at the edges (metrics, JSON answers, log lines).
 */
export const PICO_PER_USD = 1e12;
const PICO_PER_USD_N = 1_000_000_000_000n;

/** Config amounts have at most 6 decimals (validated), so this is exact. */
export function usdToPico(usd: number): number {
  return Math.round(usd * 1e6) * 1e6;
}

/** Pico-USD as the nearest double in USD. Exact below 2^53; a bigint total keeps its whole dollars exact. */
export function picoToUsd(pico: number | bigint): number {
  if (typeof pico === 'number') return pico / PICO_PER_USD;
  // Below 2^53 both operands are exact doubles and IEEE division is correctly rounded.
  if (pico <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(pico) / PICO_PER_USD;
  return Number(pico / PICO_PER_USD_N) + Number(pico % PICO_PER_USD_N) / PICO_PER_USD;
}

/** USD rounded to micro-dollars, for JSON answers where 0.30000000000000004 would mislead. */
export function picoToUsdMicro(pico: number): number {
  return Math.round(pico / 1e6) / 1e6;
}

/** Cents for real amounts; four decimals below $1, where cents would print $0.01 for $0.006. */
export function formatUsd(pico: number): string {
  const v = pico / PICO_PER_USD;
  return `$${v.toFixed(Math.abs(v) < 1 ? 4 : 2)}`;
}

/**
 * Every amount is an integer count of pico-units (1e-12) of its currency, the same scale for
 * every currency (pico-USD, pico-CNY, ...), so one integer arithmetic serves them all.
 * A currency is an ISO 4217 code: three upper-case letters.
 */
export interface Money {
  readonly currency: string;
  readonly pico: number;
}

export const CURRENCY_CODE = /^[A-Z]{3}$/;
export const USD = 'USD';

/**
 * Symbols for the currencies teams commonly pay in; any other code prints as `CODE `. The
 * status page (src/http/status/chart.js) and the Grafana units (grafana/lib.ts) use the same.
 */
export const CURRENCY_SYMBOLS: Readonly<Record<string, string>> = { USD: '$', CNY: '¥', EUR: '€', GBP: '£', JPY: 'JP¥', HKD: 'HK$' };

/** What an amount in `currency` prints after: `$`, `¥`, or `CHF ` for a code without a symbol here. */
export function currencySymbol(currency: string): string {
  return CURRENCY_SYMBOLS[currency] ?? `${currency} `;
}

/** Like formatUsd, for any currency: `¥12.34`, `$0.0042`, `CHF 3.20`. */
export function formatMoney(pico: number, currency: string): string {
  const v = pico / PICO_PER_USD;
  return `${currencySymbol(currency)}${v.toFixed(Math.abs(v) < 1 ? 4 : 2)}`;
}

/**
 * Pico-units as the nearest double in whole units of their currency (yuan, euros, dollars):
 * picoToUsd for an amount that need not be USD. The JSON answers' currency-neutral fields use it.
 */
export function picoToUnits(pico: number | bigint): number {
  return picoToUsd(pico);
}

/** picoToUsdMicro for any currency: rounded to a millionth of a unit. */
export function picoToUnitsMicro(pico: number): number {
  return picoToUsdMicro(pico);
}
