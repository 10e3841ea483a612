/**
 * In-process ForecastStore, the forecast half of MemoryBudgetStore: spend history per hour and
 * per minute (written by the ledger's settle and recordDemand), refit locks and forecast documents.
 */
import { hourStart, MINUTE_MS } from '../../core/time.ts';
import { HOURLY_HISTORY_TTL_MS, MINUTE_HISTORY_TTL_MS } from './keys.ts';
import type { ForecastStore, InstanceRef } from '../types.ts';

export class MemoryForecastStore implements ForecastStore {
  /** (budget, instance) → hour start → pico, and minute start → pico; pruned by age. */
  readonly #hourly = new Map<string, Map<number, number>>();
  readonly #minutes = new Map<string, Map<number, number>>();
  /** Refit locks and forecast documents: key → { value, expiresAt }. */
  readonly #docs = new Map<string, { value: string; expiresAt: number }>();

  /** Adds spend (or refused demand) at `now` to the history of `ref`'s (budget, instance). */
  add(ref: Pick<InstanceRef, 'budget' | 'instance'>, pico: number, now: number): void {
    const k = historyKey(ref.budget, ref.instance);
    bump(this.#hourly, k, hourStart(now), pico, now - HOURLY_HISTORY_TTL_MS);
    bump(this.#minutes, k, now - (now % MINUTE_MS), pico, now - MINUTE_HISTORY_TTL_MS);
  }

  /** Whether `ref`'s (budget, instance) has any hourly history. */
  knows(ref: Pick<InstanceRef, 'budget' | 'instance'>): boolean {
    return (this.#hourly.get(historyKey(ref.budget, ref.instance))?.size ?? 0) > 0;
  }

  async hourlySpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>> {
    return inRange(this.#hourly.get(historyKey(budget, instance)), from, to);
  }

  async minuteSpend(budget: string, instance: string, from: number, to: number): Promise<Map<number, number>> {
    return inRange(this.#minutes.get(historyKey(budget, instance)), from, to);
  }

  async claimRefit(key: string, ttlMs: number, now: number): Promise<boolean> {
    return this.#claim(`lock:${key}`, ttlMs, now);
  }

  async claimIncident(key: string, ttlMs: number, now: number): Promise<boolean> {
    return this.#claim(`incident:${key}`, ttlMs, now);
  }

  #claim(k: string, ttlMs: number, now: number): boolean {
    const cur = this.#docs.get(k);
    if (cur && cur.expiresAt > now) return false;
    this.#docs.set(k, { value: '1', expiresAt: now + ttlMs });
    return true;
  }

  async putForecast(key: string, json: string, ttlMs: number, now: number): Promise<void> {
    this.#docs.set(`fc:${key}`, { value: json, expiresAt: now + ttlMs });
  }

  async getForecast(key: string, now: number): Promise<string | null> {
    const cur = this.#docs.get(`fc:${key}`);
    return cur && cur.expiresAt > now ? cur.value : null;
  }
}

function historyKey(budget: string, instance: string): string {
  return `${budget}\u0000${instance}`;
}

function bump(series: Map<string, Map<number, number>>, key: string, at: number, pico: number, oldest: number): void {
  let m = series.get(key);
  if (m === undefined) {
    m = new Map();
    series.set(key, m);
  }
  m.set(at, (m.get(at) ?? 0) + pico);
  // Entries are appended in time order: drop expired ones from the front.
  for (const t of m.keys()) {
    if (t >= oldest) break;
    m.delete(t);
  }
}

function inRange(m: Map<number, number> | undefined, from: number, to: number): Map<number, number> {
  const out = new Map<number, number>();
  if (m) for (const [t, v] of m) if (t >= from && t < to) out.set(t, v);
  return out;
}
