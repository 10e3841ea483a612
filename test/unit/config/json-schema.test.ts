/** proxy.config.schema.json: generated from the loader's schema, committed current, and agreeing with the loader. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { configDocs, configJsonSchema, SCHEMA_FILE } from '../../../src/config/json-schema.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/config/errors.ts';

const root = (p: string) => fileURLToPath(new URL(`../../../${p}`, import.meta.url));
const shipped = readFileSync(root('proxy.config.yaml'), 'utf8');
const committed = readFileSync(root(SCHEMA_FILE), 'utf8');
const validator = z.fromJSONSchema(JSON.parse(committed) as Parameters<typeof z.fromJSONSchema>[0]);

test('the committed proxy.config.schema.json is what `npm run schema` generates now', () => {
  const generated = `${JSON.stringify(configJsonSchema(configDocs(shipped)), null, 2)}\n`;
  assert.ok(committed === generated, 'proxy.config.schema.json is stale: run `npm run schema` and commit it');
});

test('proxy.config.yaml names the schema on its first line, for yaml-language-server', () => {
  assert.equal(shipped.split('\n')[0], `# yaml-language-server: $schema=./${SCHEMA_FILE}`);
});

test('descriptions come from the shipped comments, budget keys included', () => {
  const docs = configDocs(shipped);
  assert.match(docs.get('listen.port') ?? '', /0\.\.65535/);
  assert.match(docs.get('budgets[].window') ?? '', /rolling: 90m, 24h, 7d/);
  assert.match(docs.get('budgets[].throttle') ?? '', /pacing by forecast/);
});

test('the schema accepts what the loader accepts: the shipped file, its budget example, ${VAR} scalars', () => {
  assert.ok(validator.safeParse(parse(shipped)).success);
  const lines = shipped.split('\n');
  const example = ['budgets:'];
  for (const line of lines.slice(lines.indexOf('budgets: []') + 1)) {
    if (!line.startsWith('#')) break;
    example.push(line.slice(1));
  }
  const doc = parse(example.join('\n')) as unknown;
  assert.equal(loadConfig({ file: '/x.yaml', env: {}, readFile: () => example.join('\n') }).budgets.length, 2);
  assert.ok(validator.safeParse(doc).success);
  assert.ok(
    validator.safeParse({ listen: { port: '${PORT:-8080}' }, metrics: { key_label: '${KL}' }, store: { redis: { url: '' } } }).success,
  );
  assert.ok(validator.safeParse(null).success, 'an empty file');
});

test('the schema refuses every fixture the loader refuses for a key, type, range or enum', () => {
  const dir = root('test/fixtures/config');
  let checked = 0;
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    let err: unknown = null;
    try {
      loadConfig({ file: `${dir}/${name}`, env: {} });
    } catch (e) {
      err = e;
    }
    // Cross-key rules (a budget's limit, names, windows, time zones, currencies and rates), YAML syntax and env errors are the loader's alone.
    if (
      !(err instanceof ConfigError) ||
      err.keyPath.startsWith('(') ||
      /needs limit|duplicate|time zone|window|greater than|environment variable|characters|decimal|host:port|FROM_TO|to itself|bills/.test(
        err.reason,
      )
    )
      continue;
    assert.equal(validator.safeParse(parse(readFileSync(`${dir}/${name}`, 'utf8'))).success, false, `${name}: ${err.message}`);
    checked++;
  }
  assert.ok(checked >= 8, `only ${checked} fixtures checked`);
});
