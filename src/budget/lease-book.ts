/**
 * This proxy's leases (quota leasing, as Envoy's rate-limit quota service and Google's Doorman
 * hand out capacity): per budget instance, headroom held in the ledger as one reservation, from
 * which requests are admitted here without a store round trip. It also holds what those
 * requests are expected to cost while in flight and the spend settled under the lease that the
 * next sync adds to the ledger. Pure: no clock, no I/O; budget/leases.ts syncs it.
 *
 * Why this keeps the guarantees of per-request admission:
 * - a lease is granted by the ledger's atomic script within the limit, and every request
 *   admitted from it stays held in it (as `inflight`) until its spend is added in the same
 *   script that drops it, so spent + reserved never passes the limit except by what requests
 *   in flight underestimated;
 * - headroom that a lease holds unused counts as reserved for every other reader, and a request
 *   that would fit without reservations waits while the ledger recalls leases (holders return
 *   their unused part at their next sync, a dead holder's lease expires after `ttlMs`).
 */
import type { Amount, BudgetConfig, InstanceRef, InstanceState, LeaseEntry, LeaseGrant } from './types.ts';

export interface LeaseSettings {
  /** Sync cadence while any lease is held (ms). */
  tickMs: number;
  /** Settled spend reaches the ledger within this (plus a tick) when nothing else forces a sync. */
  syncEveryMs: number;
  /** A lease not synced again within this expires in the ledger (ms). */
  ttlMs: number;
  /** A lease holds at most this many ms of the instance's observed rate here. */
  trafficMs: number;
  /** And at most 1/share of the headroom left (limit - spent - reserved) when granted. */
  share: number;
  /** A slice smaller than this many average requests is not taken: admission is exact there. */
  minRequests: number;
  /** Instances this proxy keeps lease state for; beyond, new ones are admitted exactly. */
  maxInstances: number;
  /** The observed rate's time constant (ms). */
  rateTauMs: number;
  /** With no request for this long, an instance's unused lease goes back (ms). */
  returnAfterMs: number;
  /** An instance with nothing held or in flight is forgotten after this long unused (ms). */
  idleMs: number;
}

export const LEASE_DEFAULTS: LeaseSettings = {
  tickMs: 50,
  syncEveryMs: 1_000,
  ttlMs: 3_000,
  trafficMs: 5_000,
  share: 8,
  minRequests: 2,
  maxInstances: 10_000,
  rateTauMs: 2_000,
  returnAfterMs: 2_000,
  idleMs: 30_000,
};

interface Held {
  ref: InstanceRef;
  budget: BudgetConfig;
  /** Granted and unused: what local admissions take from (limited dimensions only). */
  free: Amount;
  /** Estimates of requests admitted under the lease and not settled. */
  inflight: Amount;
  /** Settled under the lease, not yet in a batch. */
  spent: Amount;
  /** Admitted here (leased or exact) since the last rate update. */
  demand: Amount;
  /** Observed rate (per ms) and average request, both exponentially weighted. */
  rate: Amount;
  mean: Amount;
  /** Local admission under the lease only before this (ms, the ledger's clock). */
  validUntil: number;
  recalled: boolean;
  /** The instance's state after the last sync, and what the lease held in it. */
  state: InstanceState | null;
  held: Amount;
  lastSync: number;
  lastUse: number;
  lastRate: number;
}

/** One planned sync: the ledger's input and what the book needs to apply its answer. */
export interface LeaseBatch {
  id: string;
  entries: LeaseEntry[];
  keys: string[];
  sentAt: number;
}

const ZERO: Amount = Object.freeze({ pico: 0, tokens: 0 }) as Amount;
const zero = (): Amount => ({ pico: 0, tokens: 0 });
const isZero = (a: Amount): boolean => a.pico === 0 && a.tokens === 0;

/** Which dimensions of a ref a lease must guard: those with a limit the ref enforces. */
function limited(ref: InstanceRef): { pico: boolean; tokens: boolean } {
  return { pico: ref.enforce && ref.limitPico !== null, tokens: ref.enforce && ref.limitTokens !== null };
}

export class LeaseBook {
  readonly #s: LeaseSettings;
  readonly #held = new Map<string, Held>();
  readonly #keyOf: (ref: InstanceRef) => string;
  /** A batch whose answer was lost: re-sent with the same id (its spend is added at most once). */
  #unconfirmed: { id: string; spends: Map<string, Amount> } | null = null;
  #seq = 0;
  readonly #holder: string;

  constructor(holder: string, keyOf: (ref: InstanceRef) => string, settings: Partial<LeaseSettings> = {}) {
    this.#holder = holder;
    this.#keyOf = keyOf;
    this.#s = { ...LEASE_DEFAULTS, ...settings };
  }

  get settings(): Readonly<LeaseSettings> {
    return this.#s;
  }

  /** Instances held (for tests of the memory bound). */
  get size(): number {
    return this.#held.size;
  }

  get idle(): boolean {
    return this.#held.size === 0 && this.#unconfirmed === null;
  }

  /**
   * Admits locally when every ref has a live lease with room for its amount: takes it from the
   * unused part and holds it as in flight. All or nothing.
   */
  take(refs: readonly InstanceRef[], amounts: readonly Amount[], now: number): boolean {
    const held: Held[] = [];
    for (const [i, ref] of refs.entries()) {
      const h = this.#held.get(this.#keyOf(ref));
      const a = amounts[i];
      if (h === undefined || a === undefined) return false;
      const lim = limited(ref);
      if (lim.pico || lim.tokens) {
        if (h.recalled || h.validUntil <= now) return false;
        if ((lim.pico && h.free.pico < a.pico) || (lim.tokens && h.free.tokens < a.tokens)) return false;
      }
      held.push(h);
    }
    held.forEach((h, i) => {
      const a = amounts[i] as Amount;
      const lim = limited(h.ref);
      if (lim.pico) h.free.pico -= a.pico;
      if (lim.tokens) h.free.tokens -= a.tokens;
      add(h.inflight, a);
      this.#used(h, refs[i] as InstanceRef, a, now);
    });
    return true;
  }

  /** Recalled: no local admission from it, and its unused part goes back at the next sync. False: not held here. */
  recall(key: string): boolean {
    const h = this.#held.get(key);
    if (h === undefined || h.recalled) return false;
    h.recalled = true;
    return true;
  }

  /** A request admitted exactly (by the ledger's per-request script): its demand sizes the leases. */
  note(refs: readonly InstanceRef[], amounts: readonly Amount[], now: number): void {
    for (const [i, ref] of refs.entries()) {
      const h = this.#held.get(this.#keyOf(ref));
      const a = amounts[i];
      if (h !== undefined && a !== undefined) this.#used(h, ref, a, now);
    }
  }

  /**
   * An exactly admitted request settled with real spend: its instances become worth leasing
   * (an instance that never saw spend here, such as a made-up key's, never gets a lease).
   */
  eligible(refs: readonly InstanceRef[], budgets: readonly BudgetConfig[], reserved: readonly Amount[], now: number): void {
    for (const [i, ref] of refs.entries()) {
      const budget = budgets[i];
      const a = reserved[i];
      const key = this.#keyOf(ref);
      if (budget === undefined || a === undefined || this.#held.has(key) || this.#held.size >= this.#s.maxInstances) continue;
      this.#held.set(key, {
        ref,
        budget,
        free: zero(),
        inflight: zero(),
        spent: zero(),
        demand: { ...a },
        rate: zero(),
        mean: { ...a },
        validUntil: 0,
        recalled: false,
        state: null,
        held: zero(),
        lastSync: now,
        lastUse: now,
        lastRate: now,
      });
    }
  }

  /** A request admitted under the lease settled: its estimate leaves the lease at the next sync, its spend joins it. */
  settle(refs: readonly InstanceRef[], reserved: readonly Amount[], actual: readonly Amount[]): void {
    for (const [i, ref] of refs.entries()) {
      const h = this.#held.get(this.#keyOf(ref));
      const r = reserved[i];
      const a = actual[i];
      if (h === undefined || r === undefined || a === undefined) continue;
      sub(h.inflight, r);
      add(h.spent, a);
    }
  }

  /** A request admitted under the lease that nothing was billed for. */
  discard(refs: readonly InstanceRef[], reserved: readonly Amount[]): void {
    this.settle(
      refs,
      reserved,
      refs.map(() => ZERO),
    );
  }

  /** The states of refs as of their last sync (for a locally admitted request's budget headers). */
  states(refs: readonly InstanceRef[]): InstanceState[] {
    return refs.map((ref) => {
      const st = this.#held.get(this.#keyOf(ref))?.state;
      return st ? { ...st } : { spentPico: 0, reservedPico: 0, spentTokens: 0, reservedTokens: 0 };
    });
  }

  /**
   * The next sync, or null when nothing needs one. Unused headroom beyond what an instance
   * should hold now is given up here, before the ledger hears of it, so a request admitted
   * while the sync is in flight always draws on headroom the ledger still holds for it.
   * `drain`: return everything unused (shutdown).
   */
  plan(now: number, drain = false): LeaseBatch | null {
    const s = this.#s;
    const entries: LeaseEntry[] = [];
    const keys: string[] = [];
    const retry = this.#unconfirmed;
    for (const [key, h] of this.#held) {
      this.#updateRate(h, now);
      // Drained (a flush, shutdown): no new lease until new requests come.
      if (drain) h.rate = zero();
      const retrySpend = retry?.spends.get(key);
      const target = drain ? zero() : this.#target(h, now);
      const lim = limited(h.ref);
      const over = (lim.pico && h.free.pico > target.pico) || (lim.tokens && h.free.tokens > target.tokens);
      const short = (lim.pico && h.free.pico * 2 < target.pico) || (lim.tokens && h.free.tokens * 2 < target.tokens);
      const renew = !isZero(h.held) && h.validUntil - now < s.ttlMs / 2;
      const spend = !isZero(h.spent) && (now - h.lastSync >= s.syncEveryMs || drain);
      const keep = { pico: h.inflight.pico + h.free.pico, tokens: h.inflight.tokens + h.free.tokens };
      const stale = keep.pico !== h.held.pico || keep.tokens !== h.held.tokens;
      if (retrySpend === undefined && !over && !short && !renew && !spend && !(stale && (drain || now - h.lastSync >= s.syncEveryMs))) {
        if (isZero(h.held) && isZero(h.inflight) && isZero(h.spent) && now - h.lastUse >= s.idleMs) this.#held.delete(key);
        continue;
      }
      if (over) {
        h.free.pico = Math.min(h.free.pico, target.pico);
        h.free.tokens = Math.min(h.free.tokens, target.tokens);
      }
      // A re-sent batch carries exactly its own spend: new spend under its id would be skipped as a duplicate.
      const spent = retry === null ? h.spent : (retrySpend ?? zero());
      if (retry === null) h.spent = zero();
      entries.push({
        ref: h.ref,
        spent,
        keep: { pico: h.inflight.pico + h.free.pico, tokens: h.inflight.tokens + h.free.tokens },
        want: { pico: Math.max(0, target.pico - h.free.pico), tokens: Math.max(0, target.tokens - h.free.tokens) },
        min: this.#minSlice(h),
      });
      keys.push(key);
    }
    // An instance is forgotten only with nothing owed, so a retried batch's instances are all in it.
    if (entries.length === 0) return null;
    const id = retry?.id ?? `lease:${this.#holder}:${++this.#seq}`;
    this.#unconfirmed = { id, spends: new Map(keys.map((k, i) => [k, (entries[i] as LeaseEntry).spent])) };
    return { id, entries, keys, sentAt: now };
  }

  /**
   * The ledger applied `batch`: grants join the unused part; the lease lives `ttlMs` from when
   * it was sent. Returns the refs whose lease shrank (headroom returned to others).
   */
  applied(batch: LeaseBatch, grants: readonly LeaseGrant[]): InstanceRef[] {
    if (this.#unconfirmed?.id === batch.id) this.#unconfirmed = null;
    const shrank: InstanceRef[] = [];
    batch.keys.forEach((key, i) => {
      const h = this.#held.get(key);
      const g = grants[i];
      const e = batch.entries[i];
      if (h === undefined || g === undefined || e === undefined) return;
      if (e.keep.pico + g.granted.pico < h.held.pico || e.keep.tokens + g.granted.tokens < h.held.tokens) shrank.push(e.ref);
      h.free.pico += g.granted.pico;
      h.free.tokens += g.granted.tokens;
      h.held = { pico: e.keep.pico + g.granted.pico, tokens: e.keep.tokens + g.granted.tokens };
      h.recalled = g.recalled;
      h.state = g.after;
      h.lastSync = batch.sentAt;
      h.validUntil = batch.sentAt + this.#s.ttlMs - 2 * this.#s.tickMs;
    });
    return shrank;
  }

  /** Whether anything is still owed to the ledger: spend not confirmed, or a lease it holds. */
  owes(): boolean {
    if (this.#unconfirmed !== null) return true;
    for (const h of this.#held.values()) if (!isZero(h.spent) || !isZero(h.held)) return true;
    return false;
  }

  /** The sync failed: the batch's spend is re-sent under its id; leases lapse locally when their time is up. */
  failed(_batch: LeaseBatch): void {
    // #unconfirmed stays set: the next plan re-sends the same spend with the same id.
  }

  /** Budget configs and refs of a batch's entries (for the gate's events). */
  describe(batch: LeaseBatch): { refs: InstanceRef[]; budgets: BudgetConfig[] } {
    const refs: InstanceRef[] = [];
    const budgets: BudgetConfig[] = [];
    batch.keys.forEach((key, i) => {
      const h = this.#held.get(key);
      const e = batch.entries[i];
      refs.push(e?.ref ?? (h?.ref as InstanceRef));
      budgets.push(h?.budget as BudgetConfig);
    });
    return { refs, budgets };
  }

  #used(h: Held, ref: InstanceRef, a: Amount, now: number): void {
    h.ref = ref; // the latest: a reload may have changed its limit
    add(h.demand, a);
    h.mean.pico += (a.pico - h.mean.pico) * 0.1;
    h.mean.tokens += (a.tokens - h.mean.tokens) * 0.1;
    h.lastUse = now;
  }

  #updateRate(h: Held, now: number): void {
    const dt = now - h.lastRate;
    if (dt <= 0) return;
    const w = 1 - Math.exp(-dt / this.#s.rateTauMs);
    h.rate.pico += (h.demand.pico / dt - h.rate.pico) * w;
    h.rate.tokens += (h.demand.tokens / dt - h.rate.tokens) * w;
    h.demand = zero();
    h.lastRate = now;
  }

  #minSlice(h: Held): Amount {
    const n = this.#s.minRequests;
    return { pico: Math.ceil(h.mean.pico * n), tokens: Math.ceil(h.mean.tokens * n) };
  }

  /**
   * The unused headroom an instance should hold: `trafficMs` of its rate, at most 1/share of
   * the headroom its last state left (what it holds unused counted back in), none below the
   * minimum slice, none while recalled or unused for `returnAfterMs`. Unlimited dimensions need none.
   */
  #target(h: Held, now: number): Amount {
    // Recalled, or no request for a while: an idle proxy holds no headroom.
    if (h.recalled || now - h.lastUse > this.#s.returnAfterMs) return zero();
    const s = this.#s;
    const lim = limited(h.ref);
    const min = this.#minSlice(h);
    const one = (
      on: boolean,
      rate: number,
      limit: number | null,
      spent: number,
      reserved: number,
      free: number,
      minimum: number,
    ): number => {
      if (!on || limit === null) return 0;
      let t = Math.floor(rate * s.trafficMs);
      if (h.state !== null) t = Math.min(t, Math.floor((limit - spent - reserved + free) / s.share));
      return t < minimum || t <= 0 ? 0 : t;
    };
    const st = h.state;
    return {
      pico: one(lim.pico, h.rate.pico, h.ref.limitPico, st?.spentPico ?? 0, st?.reservedPico ?? 0, h.free.pico, min.pico),
      tokens: one(lim.tokens, h.rate.tokens, h.ref.limitTokens, st?.spentTokens ?? 0, st?.reservedTokens ?? 0, h.free.tokens, min.tokens),
    };
  }
}

function add(into: Amount, a: Amount): void {
  into.pico += a.pico;
  into.tokens += a.tokens;
}

function sub(from: Amount, a: Amount): void {
  from.pico = Math.max(0, from.pico - a.pico);
  from.tokens = Math.max(0, from.tokens - a.tokens);
}
