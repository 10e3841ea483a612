/**
 * Makes docs/status-page.png, the README's picture of the status page:
 *   npx tsx scripts/status-screenshot.ts [out.png]
 * A proxy on the embedded store, in front of the test suite's mock upstream, is fed ten days
 * of synthetic traffic (a daily curve, quieter weekends) on a clock that runs from ten days
 * ago to now, so budgets have spend, history for a fitted forecast, and refusals; then
 * headless Chromium shows /_meter/. The Chromium test (test/integration/status-page.test.ts)
 * checks the page's numbers; this only takes the picture.
 */
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { startMockAnthropic } from '../test/helpers/mock-anthropic.ts';
import { startProxy } from '../test/helpers/start-proxy.ts';
import { budget } from '../test/helpers/budget-config.ts';

const out = process.argv[2] ?? 'docs/status-page.png';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// The picture is taken at 14:30 UTC (today's or yesterday's), mid-window, so the forecast shows.
const today = Math.floor(Date.now() / DAY) * DAY + 14.5 * HOUR;
const shotAt = today <= Date.now() ? today : today - DAY;
let fake = shotAt - 10 * DAY;
const clock = { now: () => fake, monotonic: () => performance.now() };

// Deterministic noise, so a re-run draws the same picture for the same hour of the day.
let seed = 7;
const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;

const MODELS = [
  {
    id: 'claude-sonnet-4-6',
    share: 0.55,
    usage: () => ({
      input_tokens: 1500 + Math.round(rand() * 3000),
      output_tokens: 200 + Math.round(rand() * 600),
      cache_read_input_tokens: Math.round(rand() * 12000),
    }),
  },
  {
    id: 'claude-haiku-4-5',
    share: 0.35,
    usage: () => ({ input_tokens: 800 + Math.round(rand() * 2000), output_tokens: 100 + Math.round(rand() * 300) }),
  },
  {
    id: 'claude-opus-4-6',
    share: 0.1,
    usage: () => ({
      input_tokens: 2000 + Math.round(rand() * 4000),
      output_tokens: 300 + Math.round(rand() * 900),
      cache_read_input_tokens: Math.round(rand() * 20000),
      cache_creation_input_tokens: Math.round(rand() * 3000),
    }),
  },
];
const CALLERS = [
  { key: 'sk-ant-doc-web-frontend', tag: 'web-app', share: 0.45 },
  { key: 'sk-ant-doc-support-bot', tag: 'support-bot', share: 0.3 },
  { key: 'sk-ant-doc-nightly-evals', tag: 'evals', share: 0.15 },
  { key: 'sk-ant-doc-dev-laptop', tag: '', share: 0.1 },
];
const pick = <T extends { share: number }>(xs: T[]): T => {
  let r = rand();
  for (const x of xs) if ((r -= x.share) <= 0) return x;
  return xs[xs.length - 1]!;
};

const up = await startMockAnthropic();
let upstream429 = 0;
up.setScenario((req) => {
  if (upstream429 > 0) {
    upstream429--;
    return { kind: 'error', status: 429, type: 'rate_limit_error', message: 'rate limited upstream' };
  }
  const model = MODELS.find((m) => req.body.toString().includes(`"${m.id}"`)) ?? MODELS[0]!;
  return { kind: 'message', usage: model.usage() };
});
const { app, url } = await startProxy(null, {
  upstream: up.url,
  clock,
  forecasting: false,
  config: {
    budgets: [
      budget({ name: 'org-daily', limit_usd: 8, window: 'day', alert_at: [0.8] }),
      budget({
        name: 'evals-daily',
        scope: 'per_tag',
        match: { key: [], tag: ['evals'], model: [], path: [] },
        limit_usd: 0.5,
        window: 'day',
      }),
      budget({ name: 'org-monthly', limit_usd: 150, window: 'month' }),
    ],
  },
});

for (let hour = Math.floor(fake / HOUR) * HOUR; hour < shotAt; hour += HOUR) {
  const d = new Date(hour);
  const h = d.getUTCHours();
  const weekend = d.getUTCDay() === 0 || d.getUTCDay() === 6;
  const curve = 0.25 + Math.max(0, Math.sin(((h - 6) / 16) * Math.PI));
  const n = Math.round(22 * curve * (weekend ? 0.45 : 1) * (0.8 + rand() * 0.4));
  if (hour > shotAt - 3 * HOUR) upstream429 = 1;
  for (let i = 0; i < n; i++) {
    fake = Math.min(shotAt - 1000, hour + Math.floor((i / n) * HOUR));
    const c = pick(CALLERS);
    const m = pick(MODELS);
    await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': c.key, 'content-type': 'application/json', ...(c.tag ? { 'x-meter-tag': c.tag } : {}) },
      body: JSON.stringify({ model: m.id, max_tokens: 1024, messages: [{ role: 'user', content: 'hello' }] }),
    }).then((r) => r.arrayBuffer());
  }
  await app.flush();
}
fake = shotAt;
await app.forecasts.update(shotAt);

const executablePath = process.env['CHROMIUM_PATH'] ?? execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
const page = await (
  await browser.newContext({ timezoneId: 'UTC', locale: 'en-US', viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 })
).newPage();
await page.clock.setFixedTime(shotAt); // the browser's "today" is the proxy's
await page.goto(`${url}/_meter/`);
await page.locator('body[data-refreshes]').waitFor({ timeout: 30_000 });
await page.screenshot({ path: out, fullPage: true });
await browser.close();
await app.close();
await up.close();
process.stdout.write(`wrote ${out}\n`);
