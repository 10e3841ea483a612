/**
 * This proxy's leases (quota leasing, as Envoy's rate-limit quota service and Google's Doorman
 * hand out capacity): per budget instance, headroom held in the ledger, from which requests are
 * admitted here without a store round trip; what those requests are expected to cost while in
 * flight; and the spend settled under the lease that the next sync adds to the ledger. Pure:
 * no clock, no I/O; budget/leases.ts syncs it.
 *
 * In the ledger a holder has two reservations per instance (BudgetLedger.lease): the unused
 * part (`free`, a short life: a dead holder's stops counting within seconds) and what requests
 * admitted from it are expected to cost (`held`, the life of a request's own reservation).
 * Why this keeps the guarantees of per-request admission:
 * - headroom is granted by the ledger's atomic script within the limit, and a request admitted
 *   from it stays held (in the unused part until the next sync, then in `held`) until the
 *   script that adds its spend drops it, including when that script is a retry of a batch
 *   whose answer was lost; so spent + reserved passes the limit only by what requests in
 *   flight underestimated;
 * - unused headroom counts as reserved for every reader, and a request that would fit without
 *   reservations waits while the ledger recalls leases (holders return their unused part at
 *   their next sync, a dead holder's expires after `ttlMs`).
 */
import {
  type Amount,
  type BudgetConfig,
  type InstanceRef,
  type InstanceState,
  type LeaseEntry,
  type LeaseGrant,
  RECALL_MS,
} from './types.ts';

export interface LeaseSettings {
  /** Sync cadence while any lease is held (ms). */
  tickMs: number;
  /** Settled spend reaches the ledger within this (plus a tick) when nothing else forces a sync. */
  syncEveryMs: number;
  /** The unused part of a lease not synced again within this expires in the ledger (ms). */
  ttlMs: number;
  /** What requests admitted from a lease hold expires after this without a sync (ms): a request's own reservation's life. */
  heldTtlMs: number;
  /** A lease holds at most this many ms of the instance's observed rate here. */
  trafficMs: number;
  /** And at most 1/share of the headroom left (limit - spent - reserved) when granted. */
  share: number;
  /** A slice smaller than this many average requests is not taken: admission is exact there. */
  minRequests: number;
  /** Instances this proxy keeps lease state for; beyond, new ones are admitted exactly. */
  maxInstances: number;
  /** The observed rate's time constant (ms); a lease grows with the faster one and shrinks with both. */
  rateTauMs: number;
  fastTauMs: number;
  /** With no request for this long, an instance's unused lease goes back (ms). */
  returnAfterMs: number;
  /** An instance with nothing held or owed is forgotten after this long unused (ms). */
  idleMs: number;
}

export const LEASE_DEFAULTS: LeaseSettings = {
  tickMs: 50,
  syncEveryMs: 1_000,
  ttlMs: 3_000,
  heldTtlMs: 15 * 60_000,
  trafficMs: 5_000,
  share: 8,
  minRequests: 2,
  maxInstances: 10_000,
  rateTauMs: 10_000,
  fastTauMs: 1_000,
  returnAfterMs: 5_000,
  idleMs: 30_000,
};

interface Held {
  ref: InstanceRef;
  budget: BudgetConfig;
  /** Granted and unused: what local admissions take from (limited dimensions only). */
  free: Amount;
  /** Estimates of requests admitted from the lease and not settled. */
  inflight: Amount;
  /** Estimates of settled requests whose spend is in no batch yet: still held. */
  settled: Amount;
  /** Their spend, for the next batch, and how many requests it is. */
  spent: Amount;
  owed: number;
  /** Admitted here (leased or exact) since the last rate update. */
  demand: Amount;
  /** Observed rate (per ms) over `rateTauMs` and over `fastTauMs`, and the average request, all exponentially weighted. */
  rate: Amount;
  fast: Amount;
  mean: Amount;
  /** Local admission from the unused part only before this (ms, the ledger's clock). */
  validUntil: number;
  /** A request waits on the instance for leased headroom until then: no local admission, nothing kept. */
  recalledUntil: number;
  /** The instance's state after the last sync, and what the ledger holds for this proxy. */
  state: InstanceState | null;
  ledgerHeld: Amount;
  ledgerFree: Amount;
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
  /** Requests whose spend the batch adds (for the pending-settles figure). */
  owed: number;
}

const zero = (): Amount => ({ pico: 0, tokens: 0 });
const NO_STATE: InstanceState = Object.freeze({ spentPico: 0, reservedPico: 0, spentTokens: 0, reservedTokens: 0 });
const isZero = (a: Amount): boolean => a.pico === 0 && a.tokens === 0;
const sum = (a: Amount, b: Amount): Amount => ({ pico: a.pico + b.pico, tokens: a.tokens + b.tokens });
const same = (a: Amount, b: Amount): boolean => a.pico === b.pico && a.tokens === b.tokens;

/** Which dimensions of a ref a lease must guard: those with a limit the ref enforces. */
function limited(ref: InstanceRef): { pico: boolean; tokens: boolean } {
  return { pico: ref.enforce && ref.limitPico !== null, tokens: ref.enforce && ref.limitTokens !== null };
}

/** Whether a reload changed what a ref counts against. */
function changed(a: InstanceRef, b: InstanceRef): boolean {
  return a.limitPico !== b.limitPico || a.limitTokens !== b.limitTokens || a.enforce !== b.enforce || a.currency !== b.currency;
}

export class LeaseBook {
  readonly #s: LeaseSettings;
  readonly #held = new Map<string, Held>();
  readonly #keyOf: (ref: InstanceRef) => string;
  /** A batch whose answer was lost: re-sent with the same id and spend (added at most once). */
  #unconfirmed: { id: string; spends: Map<string, Amount>; owed: number } | null = null;
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

  /** Settled requests whose spend the ledger has not confirmed yet. */
  get owedSettles(): number {
    let n = this.#unconfirmed?.owed ?? 0;
    for (const h of this.#held.values()) n += h.owed;
    return n;
  }

  /**
   * Admits locally when every ref has a live lease with room for its amount: takes it from the
   * unused part and holds it as in flight. All or nothing.
   */
  take(refs: readonly InstanceRef[], budgets: readonly BudgetConfig[], amounts: readonly Amount[], now: number): boolean {
    const held: Held[] = [];
    for (const [i, ref] of refs.entries()) {
      const h = this.#held.get(this.#keyOf(ref));
      const a = amounts[i];
      if (h === undefined || a === undefined) return false;
      if (changed(h.ref, ref)) {
        // Reloaded: what was granted under the old limit goes back at the next sync.
        h.ref = ref;
        h.free = zero();
        return false;
      }
      const lim = limited(ref);
      if (lim.pico || lim.tokens) {
        if (h.recalledUntil > now || h.validUntil <= now) return false;
        if ((lim.pico && h.free.pico < a.pico) || (lim.tokens && h.free.tokens < a.tokens)) return false;
      }
      // The same instance twice in one request would pass each check alone: not from a lease.
      if (held.includes(h)) return false;
      held.push(h);
    }
    held.forEach((h, i) => {
      const a = amounts[i] as Amount;
      const lim = limited(h.ref);
      if (lim.pico) h.free.pico -= a.pico;
      if (lim.tokens) h.free.tokens -= a.tokens;
      h.inflight = sum(h.inflight, a);
      this.#used(h, refs[i] as InstanceRef, budgets[i], a, now);
    });
    return true;
  }

  /** A request admitted exactly (by the ledger's per-request script): its demand sizes the leases. */
  note(refs: readonly InstanceRef[], budgets: readonly BudgetConfig[], amounts: readonly Amount[], now: number): void {
    for (const [i, ref] of refs.entries()) {
      const h = this.#held.get(this.#keyOf(ref));
      const a = amounts[i];
      if (h !== undefined && a !== undefined) this.#used(h, ref, budgets[i], a, now);
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
        settled: zero(),
        spent: zero(),
        owed: 0,
        demand: { ...a },
        rate: zero(),
        fast: zero(),
        mean: { ...a },
        validUntil: 0,
        recalledUntil: 0,
        state: null,
        ledgerHeld: zero(),
        ledgerFree: zero(),
        lastSync: now,
        lastUse: now,
        lastRate: now,
      });
    }
  }

  /** A request admitted from the lease settled: its estimate stays held until the batch that adds its spend. */
  settle(refs: readonly InstanceRef[], reserved: readonly Amount[], actual: readonly Amount[]): void {
    for (const [i, ref] of refs.entries()) {
      const h = this.#held.get(this.#keyOf(ref));
      const r = reserved[i];
      const a = actual[i];
      if (h === undefined || r === undefined || a === undefined) continue;
      const moved = { pico: Math.min(r.pico, h.inflight.pico), tokens: Math.min(r.tokens, h.inflight.tokens) };
      h.inflight = { pico: h.inflight.pico - moved.pico, tokens: h.inflight.tokens - moved.tokens };
      h.settled = sum(h.settled, moved);
      h.spent = sum(h.spent, a);
      h.owed += 1;
    }
  }

  /** A request admitted from the lease that nothing was billed for. */
  discard(refs: readonly InstanceRef[], reserved: readonly Amount[]): void {
    this.settle(
      refs,
      reserved,
      refs.map(() => zero()),
    );
  }

  /** Recalled: no local admission from it for RECALL_MS, and its unused part goes back at the next sync. False: not held here. */
  recall(key: string, now: number): boolean {
    const h = this.#held.get(key);
    if (h === undefined || h.recalledUntil > now) return false;
    h.recalledUntil = now + RECALL_MS;
    return true;
  }

  /**
   * The states of refs as of their last sync (for a locally admitted request's budget headers):
   * the same objects until the next sync, never to be mutated.
   */
  states(refs: readonly InstanceRef[]): readonly InstanceState[] {
    return refs.map((ref) => this.#held.get(this.#keyOf(ref))?.state ?? NO_STATE);
  }

  /**
   * The next sync, or null when nothing needs one. Unused headroom beyond what an instance
   * should hold now is given up here, before the ledger hears of it, so a request admitted
   * while the sync is in flight always draws on headroom the ledger still holds for it.
   * `drain`: return everything unused and send all spend (flush, shutdown).
   */
  plan(now: number, drain = false): LeaseBatch | null {
    const s = this.#s;
    const entries: LeaseEntry[] = [];
    const keys: string[] = [];
    const retry = this.#unconfirmed;
    let owed = retry?.owed ?? 0;
    for (const [key, h] of this.#held) {
      this.#updateRate(h, now);
      if (drain) {
        // No new lease until new requests come.
        h.rate = zero();
        h.fast = zero();
        h.lastUse = Math.min(h.lastUse, now - s.returnAfterMs - 1);
      }
      // A lapsed unused part may be gone from the ledger: it is asked for again, never assumed.
      if (h.validUntil <= now) h.free = zero();
      const retrySpend = retry?.spends.get(key);
      const { target, keep } = drain ? { target: zero(), keep: zero() } : this.#target(h, now);
      const min = this.#minSlice(h);
      const lim = limited(h.ref);
      const over = (lim.pico && h.free.pico > keep.pico) || (lim.tokens && h.free.tokens > keep.tokens);
      const want = { pico: Math.max(0, target.pico - h.free.pico), tokens: Math.max(0, target.tokens - h.free.tokens) };
      // A slice's top-up is worth a sync once it is at least what the slice lacks of its minimum.
      const floor = { pico: Math.max(1, min.pico - h.free.pico), tokens: Math.max(1, min.tokens - h.free.tokens) };
      const short =
        (lim.pico && h.free.pico * 2 < target.pico && want.pico >= floor.pico) ||
        (lim.tokens && h.free.tokens * 2 < target.tokens && want.tokens >= floor.tokens);
      const renew = !(isZero(h.ledgerHeld) && isZero(h.ledgerFree)) && h.validUntil - now < s.ttlMs / 2;
      const due = drain || now - h.lastSync >= s.syncEveryMs;
      const spend = !isZero(h.spent) && due;
      const heldNow = retry === null ? h.inflight : sum(h.inflight, h.settled);
      const stale = !same(heldNow, h.ledgerHeld) || !same(h.free, h.ledgerFree);
      if (retrySpend === undefined && !over && !short && !renew && !spend && !(stale && due)) {
        if (isZero(h.ledgerHeld) && isZero(h.ledgerFree) && isZero(h.inflight) && isZero(h.settled) && now - h.lastUse >= s.idleMs)
          this.#held.delete(key);
        continue;
      }
      // Past what it may keep, it goes back to its target: the next return needs the rate to halve again.
      if (over) h.free = { pico: Math.min(h.free.pico, target.pico), tokens: Math.min(h.free.tokens, target.tokens) };
      // A fresh batch carries the settled requests' spend, so their estimates leave the hold in
      // the same script; a re-sent one carries exactly its own spend (new spend under its id
      // would be skipped as a duplicate), so later settles stay held.
      let spent: Amount;
      let held: Amount;
      if (retry === null) {
        spent = h.spent;
        held = h.inflight;
        owed += h.owed;
        h.spent = zero();
        h.settled = zero();
        h.owed = 0;
      } else {
        spent = retrySpend ?? zero();
        held = sum(h.inflight, h.settled);
      }
      entries.push({
        ref: h.ref,
        spent,
        held,
        keep: { ...h.free },
        want: h.recalledUntil > now ? zero() : want,
        min: floor,
      });
      keys.push(key);
    }
    // An instance is forgotten only with nothing owed, so a retried batch's instances are all in it.
    if (entries.length === 0) return null;
    const id = retry?.id ?? `lease:${this.#holder}:${++this.#seq}`;
    this.#unconfirmed = { id, spends: new Map(keys.map((k, i) => [k, (entries[i] as LeaseEntry).spent])), owed };
    return { id, entries, keys, sentAt: now, owed };
  }

  /**
   * The ledger applied `batch`: the unused part is what it kept of `keep` plus its grant, less
   * what local admissions took meanwhile; it lives `ttlMs` from when it was sent. Returns the
   * refs whose lease shrank (headroom returned to others).
   */
  applied(batch: LeaseBatch, grants: readonly LeaseGrant[]): InstanceRef[] {
    if (this.#unconfirmed?.id === batch.id) this.#unconfirmed = null;
    const shrank: InstanceRef[] = [];
    batch.keys.forEach((key, i) => {
      const h = this.#held.get(key);
      const g = grants[i];
      const e = batch.entries[i];
      if (h === undefined || g === undefined || e === undefined) return;
      const free = sum(g.kept, g.granted);
      if (
        e.held.pico + free.pico < h.ledgerHeld.pico + h.ledgerFree.pico ||
        e.held.tokens + free.tokens < h.ledgerHeld.tokens + h.ledgerFree.tokens
      )
        shrank.push(e.ref);
      // Taken meanwhile: e.keep − h.free (h.free only shrinks while a sync is in flight).
      h.free = {
        pico: Math.max(0, free.pico - (e.keep.pico - h.free.pico)),
        tokens: Math.max(0, free.tokens - (e.keep.tokens - h.free.tokens)),
      };
      h.ledgerHeld = e.held;
      h.ledgerFree = free;
      if (g.recalled) h.recalledUntil = Math.max(h.recalledUntil, batch.sentAt + RECALL_MS);
      h.state = g.after;
      h.lastSync = batch.sentAt;
      h.validUntil = batch.sentAt + this.#s.ttlMs - 2 * this.#s.tickMs;
    });
    return shrank;
  }

  /** Whether anything is still owed to the ledger: spend not confirmed, or a lease it holds. */
  owes(): boolean {
    if (this.#unconfirmed !== null) return true;
    for (const h of this.#held.values()) if (!isZero(h.spent) || !isZero(h.ledgerHeld) || !isZero(h.ledgerFree)) return true;
    return false;
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

  #used(h: Held, ref: InstanceRef, budget: BudgetConfig | undefined, a: Amount, now: number): void {
    h.ref = ref; // the latest: its window, and a reload's limit
    if (budget !== undefined) h.budget = budget;
    h.demand = sum(h.demand, a);
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
    const f = 1 - Math.exp(-dt / this.#s.fastTauMs);
    h.fast.pico += (h.demand.pico / dt - h.fast.pico) * f;
    h.fast.tokens += (h.demand.tokens / dt - h.fast.tokens) * f;
    h.demand = zero();
    h.lastRate = now;
  }

  #minSlice(h: Held): Amount {
    const n = this.#s.minRequests;
    return { pico: Math.ceil(h.mean.pico * n), tokens: Math.ceil(h.mean.tokens * n) };
  }

  /**
   * The unused headroom an instance should hold: `trafficMs` of its rate but at least the
   * minimum slice, at most 1/share of the headroom its last state left (what it holds unused
   * counted back in) while that state is recent, none when that is below the minimum slice,
   * none while recalled or unused for `returnAfterMs`. Unlimited dimensions need none.
   */
  #target(h: Held, now: number): { target: Amount; keep: Amount } {
    if (h.recalledUntil > now || now - h.lastUse > this.#s.returnAfterMs) return { target: zero(), keep: zero() };
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
    ): [target: number, keep: number] => {
      if (!on || limit === null) return [0, 0];
      // A slow instance (a key among many) still gets the minimum slice: its top-ups ride the batched syncs.
      const t = Math.max(Math.floor(rate * s.trafficMs), minimum);
      // The last state caps it for a sync interval; older, it is asked for and the script caps it (a probe).
      const cap = h.state !== null && now - h.lastSync < s.syncEveryMs ? Math.floor((limit - spent - reserved + free) / s.share) : Infinity;
      if (Math.min(t, cap) < minimum || Math.min(t, cap) <= 0) return [0, 0];
      // What it holds goes back only past twice its rate's share (no sync per wobble), never past the cap.
      return [Math.min(t, cap), Math.min(2 * t, cap)];
    };
    const st = h.state;
    const [pico, keepPico] = one(
      lim.pico,
      Math.max(h.rate.pico, h.fast.pico),
      h.ref.limitPico,
      st?.spentPico ?? 0,
      st?.reservedPico ?? 0,
      h.free.pico,
      min.pico,
    );
    const [tokens, keepTokens] = one(
      lim.tokens,
      Math.max(h.rate.tokens, h.fast.tokens),
      h.ref.limitTokens,
      st?.spentTokens ?? 0,
      st?.reservedTokens ?? 0,
      h.free.tokens,
      min.tokens,
    );
    return { target: { pico, tokens }, keep: { pico: keepPico, tokens: keepTokens } };
  }
}
