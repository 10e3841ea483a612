/**
 * `claude-meter reconcile --from DAY [--to DAY] [--by day|model|key] [--json]`: what the proxy
 * metered for Anthropic's own upstreams beside Anthropic's usage report (Admin API, admin key in
 * ANTHROPIC_ADMIN_KEY), both priced by our table, with the difference and the capture ratio; the
 * organization's total beside the cost report; and the known gaps. Days are UTC, `--to` included.
 * Both sides end at the same hour, the last one whose data has landed at Anthropic (an hour ends,
 * then about 5 minutes pass); a day that hour cuts is shown through it and marked incomplete.
 * Any failure of the Admin API or the store is one line on stderr and a non-zero exit, with
 * nothing on stdout: never a table that looks whole and is not.
 */
import Table from 'cli-table3';
import { loadConfig } from '../config/load.ts';
import { locateConfig } from '../config/locate.ts';
import type { Config } from '../config/types.ts';
import { redisConfigured } from '../compose/stores.ts';
import { openStores, type OpenedStores } from '../compose/open-stores.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import { DAY_MS } from '../core/time.ts';
import { picoToUsd } from '../core/money.ts';
import { AdminApiError, AdminClient, DEFAULT_ADMIN_URL } from '../report/admin-client.ts';
import {
  ANTHROPIC_ORIGIN,
  anthropicUpstreams,
  capture,
  diffJson,
  landedCutoff,
  reconcile,
  sideJson,
  type Reconciliation,
  type ReconcileRow,
  type Side,
} from '../report/reconcile.ts';
import { CONFIG_FILE, runCommand, UsageError, type CommandSpec, type Env, type Io } from './args.ts';

/** The longest range one run reads: a quarter. */
const MAX_DAYS = 92;

export const RECONCILE = {
  name: 'reconcile',
  summary: "our metered tokens and cost beside Anthropic's usage and cost reports (Admin API), per day and model, day, or key",
  options: {
    from: { type: 'string', value: 'YYYY-MM-DD', required: true, description: 'first UTC day' },
    to: { type: 'string', value: 'YYYY-MM-DD', description: 'last UTC day, included (default: today)' },
    by: {
      type: 'string',
      choices: ['model', 'day', 'key'],
      default: 'model',
      description: 'rows per day and model, per day, or per API key',
    },
    json: { type: 'boolean', description: 'print JSON instead of tables' },
    'api-url': {
      type: 'string',
      value: 'URL',
      description: `the Admin API origin; else $ANTHROPIC_ADMIN_URL, else ${DEFAULT_ADMIN_URL}`,
    },
    upstreams: {
      type: 'string',
      value: 'NAME,…',
      description: `the upstreams whose traffic is Anthropic's own (default: those whose url is ${ANTHROPIC_ORIGIN})`,
    },
    config: CONFIG_FILE,
  },
} as const satisfies CommandSpec;

export interface ReconcileDeps {
  now(): number;
  /** Waits out a 429's retry-after. */
  sleep(ms: number): Promise<void>;
}

const realDeps: ReconcileDeps = {
  now: () => systemClock.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export function runReconcileCommand(argv: readonly string[], io: Io, env: Env, deps: ReconcileDeps = realDeps): Promise<number> {
  return runCommand(RECONCILE, argv, io, async ({ values }) => {
    const now = deps.now();
    const from = parseDay('--from', values.from);
    const to = (values.to === undefined ? Math.floor(now / DAY_MS) * DAY_MS : parseDay('--to', values.to)) + DAY_MS;
    if (to <= from) throw new UsageError('--to is before --from');
    if (to - from > MAX_DAYS * DAY_MS) throw new UsageError(`a range of at most ${MAX_DAYS} days`);
    const url = values['api-url'] ?? env['ANTHROPIC_ADMIN_URL'] ?? DEFAULT_ADMIN_URL;
    if (!/^https?:\/\/[^/]+\/?$/.test(url)) throw new UsageError(`--api-url must be an http(s) origin, got '${url}'`);
    const key = env['ANTHROPIC_ADMIN_KEY'];
    const fail = (line: string, code: number) => {
      io.stderr.write(`claude-meter reconcile: ${line}\n`);
      return code;
    };
    if (key === undefined || key.trim() === '') {
      return fail('ANTHROPIC_ADMIN_KEY is not set: the usage and cost reports need an admin key (sk-ant-admin01-…)', 2);
    }
    const config = loadConfig({ file: locateConfig(values.config, env).file, env });
    if (!redisConfigured(config)) {
      return fail(
        'no Redis configured (store.redis.url / REDIS_URL): the embedded store lives inside the running proxy, so there is nothing to compare from here',
        2,
      );
    }
    const { compared, leftOut } = chooseUpstreams(config, values.upstreams);
    if (compared.length === 0) return fail(`no upstream is Anthropic itself (url ${ANTHROPIC_ORIGIN}); name them with --upstreams`, 2);

    // Both sides end at the last hour whose data has landed; the day it cuts is incomplete.
    const cutoff = landedCutoff(now);
    const end = Math.min(to, cutoff);
    const wholeEnd = Math.min(to, Math.floor(cutoff / DAY_MS) * DAY_MS);
    const admin = new AdminClient({ url, key: key.trim(), sleep: deps.sleep });
    let stores: OpenedStores | null = null;
    try {
      stores = await openStores(config, { clock: systemClock, logger: silentLogger });
      const ours = end > from ? await stores.meter.query({ by: 'upstream_model_key', granularity: 'day', from, to: end }) : [];
      const hints = values.by === 'key' ? await stores.meter.keyHints() : new Map<string, string>();
      const theirs = wholeEnd > from ? await admin.usage({ from, to: wholeEnd, width: '1d' }) : [];
      if (end > Math.max(from, wholeEnd)) theirs.push(...(await admin.usage({ from: Math.max(from, wholeEnd), to: end, width: '1h' })));
      const cost = wholeEnd > from ? await admin.cost(from, wholeEnd) : null;
      const apiKeys = values.by === 'key' ? await admin.apiKeys() : [];
      const result = reconcile({
        by: values.by,
        from,
        to,
        cutoff,
        upstreams: compared,
        leftOut,
        ours,
        theirs,
        cost,
        keys: values.by === 'key' ? { hints, apiKeys } : null,
        pricer: stores.pricer,
        notes: retention(config, from, now),
      });
      io.stdout.write(values.json ? `${JSON.stringify(reconciliationJson(result), null, 2)}\n` : renderReconciliation(result));
      return 0;
    } catch (err) {
      if (err instanceof AdminApiError) return fail(err.message, 1);
      return fail(`cannot read the store: ${err instanceof Error ? err.message : String(err)}`, 1);
    } finally {
      await stores?.close();
    }
  });
}

function parseDay(flag: string, v: string): number {
  const t = /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : Number.NaN;
  if (!Number.isFinite(t) || new Date(t).toISOString().slice(0, 10) !== v)
    throw new UsageError(`${flag} must be a day, YYYY-MM-DD (got '${v}')`);
  return t;
}

/** The days older than the store keeps (store.bucket_ttl_days): ours may be missing there, whatever was metered. */
function retention(config: Config, from: number, now: number): string[] {
  const kept = Math.ceil((now - config.store.bucket_ttl_days * DAY_MS) / DAY_MS) * DAY_MS;
  if (from >= kept) return [];
  return [
    `retention: the store keeps ${config.store.bucket_ttl_days} days (store.bucket_ttl_days), so ours may be missing before ${dayText(kept)}`,
  ];
}

/** Anthropic's own upstreams (by URL, or as named) and the others; a name no upstream has is a usage error. */
export function chooseUpstreams(
  config: Config,
  named: string | undefined,
): { compared: string[]; leftOut: Array<{ name: string; url: string }> } {
  const wanted = named === undefined ? null : named.split(',').map((s) => s.trim());
  const all = [config.upstream, ...config.upstreams];
  const unknown = (wanted ?? []).filter((n) => !all.some((u) => u.name === n));
  if (unknown.length > 0) throw new UsageError(`--upstreams: no upstream named ${unknown.map((n) => `'${n}'`).join(', ')}`);
  return anthropicUpstreams(config, wanted);
}

const dayText = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const timeText = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** The known gaps of this run, in words (printed under the table and in the JSON). */
export function gaps(r: Reconciliation): string[] {
  const out: string[] = [];
  const i = r.input;
  if (r.incompleteDay !== null) {
    out.push(
      `incomplete: ${dayText(r.incompleteDay)} is compared through ${timeText(i.cutoff)} only, on both sides: Anthropic's data lands within about 5 minutes, so the current hour is left out`,
    );
  }
  if (i.cutoff < i.to) out.push(`not shown: anything after ${timeText(i.cutoff)} (no complete hour has landed yet)`);
  if (i.leftOut.length > 0) {
    out.push(`left out: ${i.leftOut.map((u) => `${u.name} (${u.url})`).join(', ')}: not Anthropic itself, so not in Anthropic's reports`);
  }
  out.push(
    "theirs only: traffic that did not pass through the proxy (other apps, the Console, Workbench with no key) is in Anthropic's report and not in ours; a capture below 100% may be that, or a metering gap",
  );
  out.push('priority tier: not in the cost report; the organization total compares the usage report without it');
  out.push(...i.notes);
  if (r.org !== null) out.push('cost report: complete days only; it may hold charges that are not tokens (code execution, other tools)');
  if (i.by === 'key') {
    out.push(
      "per key: Anthropic's tokens per api_key_id are priced by our table (the cost report has no keys); our key ids are matched by the hint the proxy kept (prefix and last 4 characters), and one that matches no key, or two, stays unmapped",
    );
  }
  return out;
}

export function reconciliationJson(r: Reconciliation): Record<string, unknown> {
  const i = r.input;
  const row = (x: ReconcileRow) => ({
    ...(i.by === 'key' ? { api_key_id: x.apiKeyId, key_name: x.keyName, key_ids: x.keyIds } : { day: dayText(x.day ?? 0) }),
    ...(i.by === 'model' ? { model: x.model } : {}),
    ...(i.by === 'key' ? {} : { incomplete: x.incomplete }),
    ours: sideJson(x.ours),
    theirs: sideJson(x.theirs),
    difference: diffJson(x.ours, x.theirs),
  });
  return {
    from: dayText(i.from),
    to: dayText(i.to - DAY_MS),
    through: timeText(Math.min(i.to, i.cutoff)),
    incomplete_day: r.incompleteDay === null ? null : dayText(r.incompleteDay),
    by: i.by,
    upstreams: i.upstreams,
    left_out: i.leftOut,
    rows: r.rows.map(row),
    ...(i.by === 'key'
      ? { unmapped: r.unmapped.map((u) => ({ key_id: u.keyId, hint: u.hint, reason: u.reason, ours: sideJson(u.ours) })) }
      : {}),
    total: { ours: sideJson(r.total.ours), theirs: sideJson(r.total.theirs), difference: diffJson(r.total.ours, r.total.theirs) },
    organization:
      r.org === null
        ? null
        : {
            days: r.org.days,
            usage_report_usd: picoToUsd(r.org.usageReport.picoUsd),
            usage_report_unpriced_rows: r.org.usageReport.unpriced,
            priority_left_out_usd: picoToUsd(r.org.priorityLeftOut.picoUsd),
            cost_report_usd: picoToUsd(r.org.costReport),
            cost_report_pico_usd: r.org.costReport.toString(),
            difference_usd: picoToUsd(r.org.costReport - r.org.usageReport.picoUsd),
            ours_usd: picoToUsd(r.org.ours.picoUsd),
          },
    gaps: gaps(r),
  };
}

const int = (n: number) => n.toLocaleString('en-US');
function usd(pico: bigint, signed = false): string {
  const v = picoToUsd(pico);
  const text = `$${Math.abs(v).toFixed(Math.abs(v) < 1 && v !== 0 ? 4 : 2)}`;
  return v < 0 ? `-${text}` : signed && v > 0 ? `+${text}` : text;
}
const signed = (n: number) => (n > 0 ? `+${int(n)}` : int(n));
const PLAIN = { style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } };

function costText(s: Side): string {
  return s.unpriced > 0 ? `${usd(s.picoUsd)} (+${int(s.unpriced)} unpriced)` : usd(s.picoUsd);
}

function captureText(ours: Side, theirs: Side): string {
  const c = capture(ours, theirs);
  if (c.ratio === null) return ours.picoUsd > 0n || ours.input + ours.output > 0 ? 'ours only' : '—';
  return `${(c.ratio * 100).toFixed(1)}%${c.basis === 'tokens' ? ' (tokens)' : ''}`;
}

/** Three lines per row: ours, theirs, the difference (with Δ% and the capture ratio). */
export function renderReconciliation(r: Reconciliation): string {
  const i = r.input;
  const labels = i.by === 'key' ? ['api key'] : i.by === 'model' ? ['day', 'model'] : ['day'];
  const head = [...labels, '', 'input', 'output', 'cache write 5m', 'cache write 1h', 'cache read', 'web search', 'cost', 'Δ %', 'capture'];
  const table = new Table({
    head,
    colAligns: [...labels.map(() => 'left' as const), 'left', ...head.slice(labels.length + 1).map(() => 'right' as const)],
    ...PLAIN,
  });
  const lines = (label: string[], ours: Side, theirs: Side) => {
    const nums = (s: Side) => [
      int(s.input),
      int(s.output),
      int(s.cacheWrite5m),
      int(s.cacheWrite1h),
      int(s.cacheRead),
      int(s.webSearchRequests),
    ];
    const d = diffJson(ours, theirs);
    table.push([...label, 'ours', ...nums(ours), costText(ours), '', '']);
    table.push([...label.map(() => ''), 'theirs', ...nums(theirs), costText(theirs), '', '']);
    table.push([
      ...label.map(() => ''),
      'Δ',
      signed(ours.input - theirs.input),
      signed(ours.output - theirs.output),
      signed(ours.cacheWrite5m - theirs.cacheWrite5m),
      signed(ours.cacheWrite1h - theirs.cacheWrite1h),
      signed(ours.cacheRead - theirs.cacheRead),
      signed(ours.webSearchRequests - theirs.webSearchRequests),
      usd(ours.picoUsd - theirs.picoUsd, true),
      d.percent === null ? '—' : `${d.percent > 0 ? '+' : ''}${d.percent.toFixed(1)}%`,
      captureText(ours, theirs),
    ]);
  };
  for (const x of r.rows) {
    const day = x.day === null ? '' : `${dayText(x.day)}${x.incomplete ? ' *' : ''}`;
    const label =
      i.by === 'key'
        ? [x.apiKeyId === null ? '(no key: Workbench)' : `${x.apiKeyId}${x.keyName ? ` ${x.keyName}` : ''}`]
        : i.by === 'model'
          ? [day, x.model ?? '']
          : [day];
    lines(label, x.ours, x.theirs);
  }
  lines(i.by === 'model' ? ['total', ''] : ['total'], r.total.ours, r.total.theirs);

  const through = timeText(Math.min(i.to, i.cutoff));
  let text = `reconcile ${dayText(i.from)} to ${dayText(i.to - DAY_MS)} (UTC), through ${through}, by ${i.by}; upstreams: ${i.upstreams.join(', ')}\n`;
  text += `${table.toString()}\n`;
  if (r.rows.length === 0) text += 'no usage on either side in this range\n';
  if (r.incompleteDay !== null) {
    text +=
      i.by === 'key'
        ? `the rows include ${dayText(r.incompleteDay)} through ${timeText(i.cutoff)} (incomplete)\n`
        : `* incomplete day: compared through ${timeText(i.cutoff)}\n`;
  }
  if (i.by === 'key' && r.unmapped.length > 0) {
    const t = new Table({ head: ['our key id', 'hint', 'cost', 'why unmapped'], ...PLAIN });
    for (const u of r.unmapped) t.push([u.keyId, u.hint ?? '—', costText(u.ours), u.reason]);
    text += `\nunmapped key ids (in the total, in no row)\n${t.toString()}\n`;
  }
  if (r.org !== null) {
    const o = r.org;
    const diff = o.costReport - o.usageReport.picoUsd;
    text +=
      `\norganization, ${o.days} complete day${o.days === 1 ? '' : 's'}: cost report ${usd(o.costReport)}; usage report priced by our table ${costText(o.usageReport)}` +
      ` (priority tier left out: ${usd(o.priorityLeftOut.picoUsd)}); difference ${usd(diff, true)}; ours ${costText(o.ours)}\n`;
  } else text += '\norganization: no complete day in the range, so no cost report comparison\n';
  text += `\nknown gaps\n${gaps(r)
    .map((g) => `- ${g}\n`)
    .join('')}`;
  return text;
}
