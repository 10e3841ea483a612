/** A running proxy picks up a changed budget on reload, and refuses an invalid file while the old config keeps serving. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockAnthropic } from '../helpers/mock-anthropic.ts';
import { recordingLogger } from '../helpers/start-proxy.ts';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { ConfigWatcher } from '../../src/config/reload.ts';
import { systemClock } from '../../src/lib/clock.ts';

const yaml = (limit: string) => `listen:\n  port: 0\nbudgets:\n  - name: team\n    limit_usd: ${limit}\n`;

test('reload applies a new budget limit; a bad file is refused with file and key path, and the old limit keeps serving', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cm-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'proxy.config.yaml');
  const up = await startMockAnthropic(t);
  writeFileSync(file, yaml('5'));
  const env = { UPSTREAM_URL: up.url };
  const config = loadConfig({ file, env });
  const logger = recordingLogger();
  const app = createApp({ config, clock: systemClock, logger, defaultMetrics: false });
  const addr = await app.listen();
  t.after(() => app.close());
  const url = `http://127.0.0.1:${addr.port}`;
  const watcher = new ConfigWatcher({ file, env, logger, clock: systemClock, onReload: (next) => app.reload(next) });
  watcher.start(config);
  t.after(() => watcher.stop());

  const limit = async () => {
    await fetch(`${url}/v1/messages`, {
      method: 'POST',
      body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [] }),
    }).then((r) => r.arrayBuffer());
    const b = (await (await fetch(`${url}/_meter/budgets`)).json()) as { budgets: { limit_usd: number }[] };
    return b.budgets[0]?.limit_usd;
  };
  assert.equal(await limit(), 5);

  writeFileSync(file, yaml('7.5'));
  assert.equal(await watcher.reloadNow(), true);
  assert.equal(await limit(), 7.5);

  writeFileSync(file, yaml('-1'));
  assert.equal(await watcher.reloadNow(), false);
  const refused = logger.lines.find((l) => l.level === 'error' && /config reload refused/.test(l.msg ?? ''));
  assert.ok(refused, 'a clear log line');
  assert.ok(refused.msg?.includes(`${file}: config error at budgets[0].limit_usd: must be > 0`), refused.msg);
  assert.equal(await limit(), 7.5, 'the old config keeps serving');
});
