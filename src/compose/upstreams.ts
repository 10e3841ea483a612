/**
 * The upstreams of a config as the Upstream objects requests meet (http/upstreams.ts), built
 * once per snapshot, and their connection pools across reloads: an upstream whose connection
 * settings (name, url, timeouts, connections) did not change keeps its pool and its keep-alive
 * sockets; a removed or changed one is retired, closed once the requests that selected it have
 * ended (undici's close lets requests already dispatched finish too).
 */
import { anthropic } from '../api/anthropic/index.ts';
import { openaiDialect } from '../api/openai/index.ts';
import { CREDENTIAL_HEADERS as OPENAI_CREDENTIALS } from '../api/openai/credentials.ts';
import { SemanticsProof } from '../api/openai/semantics.ts';
import { buildBiller } from '../pricing/billing.ts';
import type { Dialect } from '../core/dialect.ts';
import type { Credential } from '../core/request.ts';
import type { Config, UpstreamSection } from '../config/types.ts';
import { redactUrl } from '../config/describe.ts';
import { InFlight } from '../lib/in-flight.ts';
import type { Biller, Pricer } from '../pricing/types.ts';
import { PoolForwarder, type Forwarder, type ForwarderOptions } from '../upstream/forward.ts';
import { ownCredential } from '../upstream/headers.ts';
import type { Upstream, UpstreamSet } from '../http/upstreams.ts';

/**
 * Every credential header of every dialect, stripped from every request whichever dialect it
 * speaks: an upstream may read a header its own API does not document (a relay serving both formats).
 */
export const CREDENTIAL_HEADERS: readonly string[] = Object.freeze([...new Set([...anthropic.credentialHeaders, ...OPENAI_CREDENTIALS])]);

/** A forwarder's options from one upstream's section (also what the benchmark's engines take). */
export function forwarderOptions(u: UpstreamSection): ForwarderOptions {
  return {
    url: u.url,
    credentialHeaders: CREDENTIAL_HEADERS,
    headersTimeoutMs: u.headers_timeout_ms,
    bodyTimeoutMs: u.body_timeout_ms,
    connectTimeoutMs: u.connect_timeout_ms,
    connections: u.connections,
  };
}

/**
 * The native dialect, and the alternate for the paths only the other one meters (http/upstreams.ts
 * Upstream.alternate): an anthropic upstream meters OpenAI-format paths with the openai dialect,
 * by path, since relays (and Anthropic's own compatibility endpoint) serve both under one origin.
 * `proof` is what this upstream's responses proved about `usage_semantics: auto`: it outlives a
 * reload that keeps the upstream's name and URL.
 */
function dialectsOf(u: UpstreamSection, proof: SemanticsProof): { dialect: Dialect; alternate: Dialect | null } {
  const openai = openaiDialect({ semantics: u.usage_semantics, includeUsage: u.include_usage, proof });
  if (u.api === 'openai') return { dialect: openai, alternate: null };
  return { dialect: anthropic, alternate: openai };
}

/** One upstream's connections, shared by every snapshot that keeps its settings. */
interface Pool {
  /** The settings it was built from; a change builds a new pool. */
  readonly key: string;
  readonly forwarder: Forwarder;
  readonly inFlight: InFlight;
}

function poolKey(u: UpstreamSection): string {
  return JSON.stringify([u.name, u.url, u.headers_timeout_ms, u.body_timeout_ms, u.connect_timeout_ms, u.connections]);
}

/** What /_meter/health shows of an upstream: no key, and its URL's origin only. */
export interface UpstreamHealth {
  name: string;
  api: string;
  route: string | null;
  url: string;
  /** OpenAI-format usage: what `prompt_tokens` is read as, and whether the upstream's responses proved it. */
  usage_semantics: { configured: string; semantics: string; proven: boolean; evidence: string | null };
}

export function upstreamHealth(set: UpstreamSet): UpstreamHealth[] {
  return [...set.byName.values()].map((u) => ({
    name: u.name,
    api: u.api,
    route: u.route,
    url: u.shownUrl,
    usage_semantics: u.usageSemantics(),
  }));
}

export class UpstreamPools {
  /** The pools of the set in force, by upstream name. */
  #committed = new Map<string, Pool>();
  /** Retired pools waiting for their requests to end. */
  readonly #retiring = new Set<Pool>();
  /** The pools each built set uses, until it is committed. */
  readonly #built = new WeakMap<UpstreamSet, ReadonlyMap<string, Pool>>();
  /** What each upstream (by name and URL) proved about its usage semantics: kept across reloads. */
  readonly #proofs = new Map<string, SemanticsProof>();
  /** The default upstream's forwarder when one was injected (benchmarks): it serves for the graph's whole life. */
  readonly #injected: Pool | null;

  constructor(injected?: Forwarder) {
    this.#injected = injected === undefined ? null : { key: 'injected', forwarder: injected, inFlight: new InFlight() };
  }

  /** The upstreams of `config`, reusing the pools of unchanged ones; nothing is closed until `commit`. */
  build(config: Config, pricer: Pricer): UpstreamSet {
    const pools = new Map<string, Pool>();
    const make = (u: UpstreamSection, at: string, route: string | null, selectByHeader: boolean, pool: Pool): Upstream => {
      pools.set(u.name, pool);
      const biller = buildBiller(u.billing, pricer, config.source, `${at}.billing`);
      return upstream(u, route, selectByHeader, pool, biller, this.#proof(u));
    };
    const def = make(config.upstream, 'upstream', null, false, this.#injected ?? this.#pool(config.upstream));
    const routed = config.upstreams.map((u, i) => make(u, `upstreams[${i}]`, u.route, u.select_by_header, this.#pool(u)));
    const set: UpstreamSet = Object.freeze({
      default: def,
      routed: Object.freeze(routed.toSorted((a, b) => (b.route?.length ?? 0) - (a.route?.length ?? 0))),
      // In config order: what health lists.
      byName: new Map([def, ...routed].map((u) => [u.name, u])),
    });
    this.#built.set(set, pools);
    return set;
  }

  #proof(u: UpstreamSection): SemanticsProof {
    const key = `${u.name}\n${u.url}`;
    let p = this.#proofs.get(key);
    if (p === undefined) this.#proofs.set(key, (p = new SemanticsProof()));
    return p;
  }

  /** `set` is in force: pools it no longer uses are closed once their requests have ended. */
  commit(set: UpstreamSet): void {
    const next = this.#built.get(set);
    if (next === undefined) throw new Error('UpstreamPools.commit: a set this instance did not build');
    const kept = new Set(next.values());
    for (const pool of this.#committed.values()) if (!kept.has(pool)) this.#retire(pool);
    this.#committed = new Map(next);
  }

  /** Closes every pool (shutdown, after the drain): requests still dispatched finish first. */
  close(): void {
    for (const pool of [...this.#retiring, ...this.#committed.values()]) pool.forwarder.close();
    this.#retiring.clear();
    this.#committed.clear();
  }

  /** Pools retired and not yet closed (tests). */
  get retiring(): number {
    return this.#retiring.size;
  }

  #pool(u: UpstreamSection): Pool {
    const key = poolKey(u);
    const prev = this.#committed.get(u.name);
    if (prev !== undefined && prev.key === key) return prev;
    return { key, forwarder: new PoolForwarder(forwarderOptions(u)), inFlight: new InFlight() };
  }

  #retire(pool: Pool): void {
    this.#retiring.add(pool);
    void pool.inFlight.idle().then(() => {
      if (this.#retiring.delete(pool)) pool.forwarder.close();
    });
  }
}

const noCredential = (): null => null;

function upstream(
  u: UpstreamSection,
  route: string | null,
  selectByHeader: boolean,
  pool: Pool,
  biller: Biller,
  proof: SemanticsProof,
): Upstream {
  const { dialect, alternate } = dialectsOf(u, proof);
  const key = u.api_key;
  // Made once per snapshot: a request only looks its dialect up.
  const own = new Map<Dialect, Credential>();
  if (key !== null) for (const d of [dialect, alternate]) if (d !== null) own.set(d, ownCredential(d.credentialHeaders[0] as string, key));
  return Object.freeze({
    name: u.name,
    route,
    selectByHeader,
    api: u.api,
    shownUrl: redactUrl(u.url),
    dialect,
    alternate,
    forwarder: pool.forwarder,
    inFlight: pool.inFlight,
    access: {
      injected: key !== null,
      accepted: u.client_key_ids.length > 0 ? new Set(u.client_key_ids) : null,
    },
    biller,
    usageSemantics: () => {
      const st = proof.state;
      const semantics = u.usage_semantics === 'auto' ? st.semantics : u.usage_semantics;
      return { configured: u.usage_semantics, semantics, proven: u.usage_semantics === 'auto' && st.proven, evidence: st.evidence };
    },
    ownCredential: key === null ? noCredential : (d: Dialect) => own.get(d) ?? null,
  });
}
