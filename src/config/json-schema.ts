/**
 * The JSON Schema of proxy.config.yaml, generated from the loader's own declaration
 * (schema.ts) and defaults (defaults.ts), so editors complete and check exactly what the
 * proxy accepts. `npm run schema` writes proxy.config.schema.json; a test keeps the
 * committed file equal to this output. Pure: text in, objects out.
 *
 * What JSON Schema cannot say is left to the loader and check-config: the cross-key rules
 * (a budget needs limit_usd or limit_tokens, unique names, ascending alert_at, time zones,
 * window syntax). A `${VAR}` string is accepted wherever a scalar is, since it is expanded
 * after parsing and may become a number or boolean.
 */
import { isMap, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { DEFAULTS } from './defaults.ts';
import { configSchema } from './schema.ts';
import type { Node } from './walk.ts';

export const SCHEMA_FILE = 'proxy.config.schema.json';
type Json = Record<string, unknown>;

/** `${VAR}` or `${VAR:-default}` somewhere in the string: checked after expansion, not here. */
const INTERPOLATED: Json = { $ref: '#/definitions/interpolated' };
const DEFINITIONS: Json = {
  interpolated: { type: 'string', pattern: '\\$\\{', description: '${VAR} or ${VAR:-default}, expanded from the environment at load time' },
};

/** A nullable key also takes '' (so `${VAR:-}` can mean "unset"), and null. */
const NULLS: Json[] = [{ type: 'null' }, { const: '' }];

function at(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

function scalar(node: Node): Json {
  switch (node.kind) {
    case 'string':
      return node.nonEmpty === true ? { type: 'string', minLength: 1 } : { type: 'string' };
    case 'url':
      return { type: 'string', format: 'uri', pattern: `^(${node.protocols.map((p) => p.slice(0, -1)).join('|')}):` };
    case 'enum':
      return { enum: [...node.values] };
    case 'bool':
      return { type: 'boolean' };
    case 'int':
    case 'number': {
      const out: Json = { type: node.kind === 'int' ? 'integer' : 'number' };
      if (node.min !== undefined) out[node.kind === 'number' && node.minExclusive === true ? 'exclusiveMinimum' : 'minimum'] = node.min;
      if (node.max !== undefined) out['maximum'] = node.max;
      return out;
    }
    default:
      throw new Error(`not a scalar: ${node.kind}`);
  }
}

function convert(node: Node, fallback: unknown, path: string, docs: ReadonlyMap<string, string>): Json {
  const described = (s: Json): Json => {
    const d = docs.get(path);
    const out = d === undefined ? s : { description: d, ...s };
    // Defaults on values, not on sections: an editor would offer to paste a whole section.
    return fallback === undefined || node.kind === 'object' ? out : { ...out, default: fallback };
  };
  switch (node.kind) {
    case 'object': {
      const properties: Json = {};
      for (const [k, child] of Object.entries(node.keys))
        properties[k] = convert(child, at(fallback, k), path === '' ? k : `${path}.${k}`, docs);
      // null or absent: every key at its default (an all-commented section is valid).
      return described({ type: ['object', 'null'], properties, additionalProperties: false });
    }
    case 'map':
      return described({ type: ['object', 'null'], additionalProperties: convert(node.values, undefined, `${path}.*`, docs) });
    case 'list': {
      const itemDefaults = node.itemDefaults;
      let items = convert(node.items, itemDefaults, `${path}[]`, docs);
      if (itemDefaults !== undefined && node.items.kind === 'object') {
        // An item key without a per-item default is required in every item (a budget's name).
        const required = Object.keys(node.items.keys).filter((k) => at(itemDefaults, k) === undefined);
        items = { ...items, type: 'object', required };
      }
      const list: Json = { type: ['array', 'null'], items };
      return described(node.oneOrMany === true ? { anyOf: [list, items] } : list);
    }
    case 'any':
      return described({});
    case 'string':
      // A string already takes ${VAR}; a nullable one also null and ''.
      if (node.nullable === true)
        return described(node.nonEmpty === true ? { anyOf: [scalar(node), ...NULLS] } : { type: ['string', 'null'] });
      return described(scalar(node));
    default:
      return described({ anyOf: [scalar(node), ...(node.nullable === true ? NULLS : []), INTERPOLATED] });
  }
}

/** The whole document. `docs`: key path → description (from the shipped file's comments, see configDocs). */
export function configJsonSchema(docs: ReadonlyMap<string, string> = new Map()): Json {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: SCHEMA_FILE,
    title: 'claude-meter proxy configuration',
    description: 'Generated from src/config/schema.ts by `npm run schema`; do not edit. Every key is optional.',
    ...convert(configSchema, DEFAULTS, '', docs),
    // An empty file (or only comments) means all defaults.
    type: ['object', 'null'],
    definitions: DEFINITIONS,
  };
}

/**
 * Descriptions from proxy.config.yaml: each key's trailing comment, and for `budgets[]` the
 * commented example that follows `budgets: []` (the same lines a budgets test uncomments).
 */
export function configDocs(shippedYaml: string): Map<string, string> {
  const docs = new Map<string, string>();
  const visit = (node: unknown, path: string) => {
    if (isSeq(node)) {
      for (const item of node.items) visit(item, `${path}[]`);
      return;
    }
    if (!isMap(node)) return;
    for (const pair of node.items) {
      const key = String((pair.key as { value?: unknown } | null)?.value ?? '');
      const p = path === '' ? key : `${path}.${key}`;
      const value = pair.value as YamlNode | null;
      // A scalar's comment trails it; a nested mapping's sits on its key's line.
      const comment = value?.comment ?? (isMap(value) || isSeq(value) ? value.commentBefore : undefined);
      if (comment && !docs.has(p)) docs.set(p, comment.replace(/\s*\n\s*/g, ' ').trim());
      visit(value, p);
    }
  };
  visit(parseDocument(shippedYaml).contents, '');
  const lines = shippedYaml.split('\n');
  const example = ['budgets:'];
  for (const line of lines.slice(lines.indexOf('budgets: []') + 1)) {
    if (!line.startsWith('#')) break;
    example.push(line.slice(1));
  }
  if (example.length > 1) visit(parseDocument(example.join('\n')).contents, '');
  return docs;
}
