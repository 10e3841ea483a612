/**
 * Model id → canonical price-table id, by explicit rules only.
 *
 * Precedence (first hit wins):
 *   1. the id exactly as given is a canonical id;
 *   2. it is exactly a listed alias;
 *   3. its platform-normalised form (normaliseModelId) is a canonical id;
 *   4. the normalised form is exactly a listed alias;
 *   5. otherwise null: the request is unpriced (counted, never billed as $0).
 *
 * There is no prefix, substring or "closest family" matching on purpose: `claude-opus-4` is not
 * `claude-opus-4-5`, and `claude-sonnet-4-5-20250929-extra` is not Sonnet 4.5. A wrong price is
 * worse than a visible "unpriced", because nobody notices a plausible wrong number.
 */
import type { PriceTable } from './types.ts';

/** `us.`/`eu.`/`apac.`/`global.` cross-region inference profile, only in front of `anthropic.`. */
const BEDROCK_PREFIX = /^(?:(?:us|eu|apac|global)\.)?anthropic\./;
/** Bedrock version suffix: `-v1`, `-v1:0`, `-v2:1` … */
const BEDROCK_VERSION = /-v\d+(?::\d+)?$/;
/** Vertex pins older models as `name@YYYYMMDD`; the API spells the same model `name-YYYYMMDD`. */
const VERTEX_DATE = /^([^@]+)@(\d{8})$/;

/**
 * Map a Bedrock / Vertex spelling to the Anthropic API spelling. Each rule applies at most once,
 * anchored at the start or end of the id, in this order: strip `[region.]anthropic.`, strip a
 * trailing `-vN[:M]`, rewrite `@YYYYMMDD` to `-YYYYMMDD`. Anything else is returned unchanged.
 *   us.anthropic.claude-sonnet-4-5-20250929-v1:0 → claude-sonnet-4-5-20250929
 *   anthropic.claude-opus-4-6-v1                 → claude-opus-4-6
 *   claude-opus-4@20250514                       → claude-opus-4-20250514
 */
export function normaliseModelId(model: string): string {
  let id = model.replace(BEDROCK_PREFIX, '').replace(BEDROCK_VERSION, '');
  const vertex = VERTEX_DATE.exec(id);
  if (vertex) id = `${vertex[1]}-${vertex[2]}`;
  return id;
}

function lookup(table: Pick<PriceTable, 'models' | 'aliases'>, id: string): string | null {
  if (table.models.has(id)) return id;
  return table.aliases.get(id) ?? null;
}

/** Canonical id for `model`, or null when the table does not know it. Pure. */
export function resolveModel(table: Pick<PriceTable, 'models' | 'aliases'>, model: string): string | null {
  const direct = lookup(table, model);
  if (direct !== null) return direct;
  const normalised = normaliseModelId(model);
  return normalised === model ? null : lookup(table, normalised);
}
