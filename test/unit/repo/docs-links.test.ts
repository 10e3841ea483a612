/**
 * The documents link to each other correctly: every relative link and image of README.md,
 * CONTRIBUTING.md, CHANGELOG.md and docs/*.md names a file in the repository, and every
 * `#anchor` names a heading of its target (GitHub's slugs). And the README's Manual list links
 * every page of docs/, so nothing moved out of the README is out of reach.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PAGES = readdirSync(join(ROOT, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .sort()
  .map((f) => `docs/${f}`);
const DOCS = ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', ...PAGES];

/** The document without fenced blocks and inline code, where links are not links. */
function prose(text: string): string[] {
  let inFence = false;
  return text.split('\n').map((line) => {
    if (/^```/.test(line)) {
      inFence = !inFence;
      return '';
    }
    return inFence ? '' : line.replace(/`[^`]*`/g, '');
  });
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(text: string): Set<string> {
  const out = new Set<string>();
  const count = new Map<string, number>();
  let inFence = false;
  for (const line of text.split('\n')) {
    if (/^```/.test(line)) inFence = !inFence;
    const h = inFence ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const slug = (h[1] ?? '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = count.get(slug) ?? 0;
    count.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

test('anchors follow GitHub: punctuation dropped, repeats numbered', () => {
  const a = anchors(
    '# Budgets\n## No usage is never $0 silently\n## Watching it: the stack, the dashboard, alerts\n### Changes\n### Changes\n```\n# not a heading\n```',
  );
  assert.deepEqual(
    [...a],
    ['budgets', 'no-usage-is-never-0-silently', 'watching-it-the-stack-the-dashboard-alerts', 'changes', 'changes-1'],
  );
});

test('every relative link of the documents resolves, anchors included', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const doc of DOCS) {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    prose(text).forEach((line, i) => {
      for (const m of line.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const file = path === '' ? doc : normalize(join(dirname(doc), path));
        checked++;
        if (file.startsWith('..') || !existsSync(join(ROOT, file))) {
          broken.push(`${doc}:${i + 1}: ${target} (no file ${file})`);
          continue;
        }
        if (
          anchor !== undefined &&
          (!file.endsWith('.md') ||
            statSync(join(ROOT, file)).isDirectory() ||
            !anchors(readFileSync(join(ROOT, file), 'utf8')).has(anchor))
        ) {
          broken.push(`${doc}:${i + 1}: ${target} (no heading #${anchor} in ${file})`);
        }
      }
    });
  }
  assert.ok(checked > 50, `only ${checked} links found`);
  assert.deepEqual(broken, []);
});

test("the README's Manual links every page of docs/", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const manual = readme.slice(readme.indexOf('## Manual'), readme.indexOf('\n## ', readme.indexOf('## Manual') + 5));
  assert.ok(manual.length > 100, 'README has a Manual section');
  for (const page of PAGES) assert.ok(manual.includes(`](${page})`), `the Manual does not link ${page}`);
});
