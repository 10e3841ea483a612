import { test } from 'node:test';
import assert from 'node:assert/strict';
import { walk, type Issue, type ObjectOf, type WalkContext } from '../../../src/config/walk.ts';
import { ConfigError, joinKey } from '../../../src/config/errors.ts';
import { didYouMean, distance } from '../../../src/config/suggest.ts';

/*
 * The walker must take a `budgets:` list of objects declaratively, with per-item defaults,
 * required keys and cross-field checks. This is that future section, declared the same way
 * it would be in schema.ts, to prove the shape works before the section exists.
 */
interface Budget {
  name: string;
  scope: 'key' | 'tag' | 'global';
  window: string;
  limit_usd: number | null;
  limit_tokens: number | null;
  action: 'deny' | 'shadow';
  alert_at: number[];
  on_store_error: 'allow' | 'deny';
}
interface WithBudgets {
  budgets: Budget[];
}

const BUDGET_DEFAULTS: Partial<Budget> = {
  scope: 'key',
  window: 'month',
  limit_usd: null,
  limit_tokens: null,
  action: 'deny',
  alert_at: [],
  on_store_error: 'allow',
};

const needsALimit = (b: Budget, path: string): Issue | undefined =>
  b.limit_usd === null && b.limit_tokens === null ? { keyPath: path, reason: 'needs limit_usd or limit_tokens' } : undefined;

function uniqueNames(all: readonly Budget[], path: string): Issue | undefined {
  const seen = new Map<string, number>();
  for (const [i, b] of all.entries()) {
    const first = seen.get(b.name);
    if (first !== undefined) return { keyPath: `${path}[${i}].name`, reason: `duplicate budget name '${b.name}' (also ${path}[${first}])` };
    seen.set(b.name, i);
  }
  return undefined;
}

const schema: ObjectOf<WithBudgets> = {
  kind: 'object',
  keys: {
    budgets: {
      kind: 'list',
      itemDefaults: BUDGET_DEFAULTS,
      check: uniqueNames,
      items: {
        kind: 'object',
        check: needsALimit,
        keys: {
          name: { kind: 'string', nonEmpty: true },
          scope: { kind: 'enum', values: ['key', 'tag', 'global'] },
          window: { kind: 'string' },
          limit_usd: { kind: 'number', min: 0, minExclusive: true, nullable: true },
          limit_tokens: { kind: 'int', min: 1, nullable: true },
          action: { kind: 'enum', values: ['deny', 'shadow'] },
          alert_at: { kind: 'list', items: { kind: 'number', min: 0, max: 1 } },
          on_store_error: { kind: 'enum', values: ['allow', 'deny'] },
        },
      },
    },
  },
};

const ctx = (substituted: string[] = []): WalkContext => ({ file: 'b.yaml', substituted: new Set(substituted) });
const run = (input: unknown, substituted: string[] = []) => walk(schema, input, { budgets: [] }, '', ctx(substituted));

function fails(input: unknown, message: string): void {
  assert.throws(
    () => run(input),
    (err: unknown) => err instanceof ConfigError && err.message === message,
  );
}

test('list of objects: per-item defaults fill in', () => {
  assert.deepEqual(run({ budgets: [{ name: 'team-a', limit_usd: 100, alert_at: [0.5, 0.9] }] }), {
    budgets: [{ ...BUDGET_DEFAULTS, name: 'team-a', limit_usd: 100, alert_at: [0.5, 0.9] }],
  });
  assert.deepEqual(run({}), { budgets: [] });
  assert.deepEqual(run({ budgets: null }), { budgets: [] });
});

test('list of objects: errors carry the index in the key path', () => {
  fails({ budgets: [{ name: 'a', limit_usd: 1 }, { limit_usd: 1 }] }, 'b.yaml: config error at budgets[1].name: missing required key');
  fails({ budgets: [null] }, 'b.yaml: config error at budgets[0].name: missing required key');
  fails({ budgets: [{ name: 'a', limit_usd: 0 }] }, 'b.yaml: config error at budgets[0].limit_usd: must be > 0, got 0');
  fails(
    { budgets: [{ name: 'a', limit_usd: 1, alert_at: [0.5, 2] }] },
    'b.yaml: config error at budgets[0].alert_at[1]: must be between 0 and 1, got 2',
  );
  fails(
    { budgets: [{ name: 'a', limit_usd: 1, scope: 'team' }] },
    "b.yaml: config error at budgets[0].scope: must be one of 'key', 'tag', 'global', got 'team'",
  );
  fails(
    { budgets: [{ name: 'a', limit_usd: 1, limt_tokens: 5 }] },
    "b.yaml: config error at budgets[0].limt_tokens: unknown key 'limt_tokens' (did you mean 'limit_tokens'?)",
  );
  fails({ budgets: { name: 'a' } }, 'b.yaml: config error at budgets: expected a list, got a mapping');
});

test('cross-field check hooks: item-level and list-level', () => {
  fails({ budgets: [{ name: 'a', limit_usd: 1 }, { name: 'b' }] }, 'b.yaml: config error at budgets[1]: needs limit_usd or limit_tokens');
  fails(
    {
      budgets: [
        { name: 'a', limit_usd: 1 },
        { name: 'b', limit_tokens: 5 },
        { name: 'a', limit_tokens: 9 },
      ],
    },
    "b.yaml: config error at budgets[2].name: duplicate budget name 'a' (also budgets[0])",
  );
});

test('only ${...}-substituted strings are coerced, and only to the kind the key expects', () => {
  const input = { budgets: [{ name: '42', limit_usd: '12.5', limit_tokens: '', alert_at: ['0.8'] }] };
  const out = run(input, ['budgets[0].name', 'budgets[0].limit_usd', 'budgets[0].limit_tokens', 'budgets[0].alert_at[0]']);
  assert.deepEqual(out, { budgets: [{ ...BUDGET_DEFAULTS, name: '42', limit_usd: 12.5, limit_tokens: null, alert_at: [0.8] }] });
  fails({ budgets: [{ name: 'a', limit_usd: '12.5' }] }, "b.yaml: config error at budgets[0].limit_usd: expected a number, got '12.5'");
});

test('the result is a fresh value: defaults are never shared with the output', () => {
  const defaults = { budgets: [] as Budget[] };
  const out = walk(schema, undefined, defaults, '', ctx()) as WithBudgets;
  assert.notEqual(out.budgets, defaults.budgets);
});

test('key paths quote map keys that would be ambiguous after a dot', () => {
  assert.equal(joinKey('', 'listen'), 'listen');
  assert.equal(joinKey('pricing.models', 'claude-sonnet-4'), 'pricing.models.claude-sonnet-4');
  assert.equal(joinKey('pricing.models', 'claude-3.5'), 'pricing.models["claude-3.5"]');
  assert.equal(joinKey('m', 'has space'), 'm["has space"]');
});

test('did-you-mean suggests only close matches', () => {
  assert.equal(distance('uptream', 'upstream'), 1);
  assert.equal(distance('', 'abc'), 3);
  assert.equal(didYouMean('uptream', ['listen', 'upstream', 'store']), " (did you mean 'upstream'?)");
  assert.equal(didYouMean('Listen', ['listen']), " (did you mean 'listen'?)");
  assert.equal(didYouMean('budget', ['listen', 'upstream']), '');
  assert.equal(didYouMean('x', ['y']), " (did you mean 'y'?)");
  assert.equal(didYouMean('warning', ['debug', 'info', 'warn']), " (did you mean 'warn'?)");
  assert.equal(didYouMean('conn', ['connections', 'connect_timeout_ms']), " (did you mean 'connections'?)");
  assert.equal(didYouMean(5, ['listen']), '');
});

test('oneOrMany lists take a lone scalar as a one-item list, checked at the key itself', () => {
  const tags: ObjectOf<{ tags: string[] }> = {
    kind: 'object',
    keys: {
      tags: {
        kind: 'list',
        oneOrMany: true,
        items: { kind: 'string', nonEmpty: true },
        check: (v, path) => (v.includes('x') ? { keyPath: path, reason: 'no x' } : undefined),
      },
    },
  };
  const go = (input: unknown) => walk(tags, input, { tags: [] }, '', ctx());
  assert.deepEqual(go({ tags: 'a' }), { tags: ['a'] });
  assert.deepEqual(go({ tags: ['a', 'b'] }), { tags: ['a', 'b'] });
  assert.deepEqual(go({ tags: null }), { tags: [] });
  const message = (input: unknown) => {
    try {
      go(input);
    } catch (err) {
      return err instanceof ConfigError ? err.message : String(err);
    }
    return 'no error';
  };
  assert.equal(message({ tags: '' }), 'b.yaml: config error at tags: must not be empty');
  assert.equal(message({ tags: 7 }), 'b.yaml: config error at tags: expected a string, got number 7');
  assert.equal(message({ tags: { a: 1 } }), 'b.yaml: config error at tags: expected a list or a single value, got a mapping');
  assert.equal(message({ tags: 'x' }), 'b.yaml: config error at tags: no x');
});

test('an exclusive minimum with a maximum says so', () => {
  const s: ObjectOf<{ f: number }> = { kind: 'object', keys: { f: { kind: 'number', min: 0, minExclusive: true, max: 1.5 } } };
  assert.throws(() => walk(s, { f: 0 }, { f: 1 }, '', ctx()), { message: 'b.yaml: config error at f: must be > 0 and <= 1.5, got 0' });
  assert.deepEqual(walk(s, { f: 1.5 }, { f: 1 }, '', ctx()), { f: 1.5 });
});
