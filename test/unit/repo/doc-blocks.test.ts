/**
 * The parser behind the docs-commands test (test/helpers/doc-blocks.ts): which blocks run, how,
 * and which markers are refused, so a typo in a marker cannot silently skip a command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocBlocks } from '../../helpers/doc-blocks.ts';

const fence = '```';

test('shell blocks run as written; console blocks run only their $ lines', () => {
  const doc = [
    `${fence}sh`,
    'npm start',
    `${fence}`,
    '',
    `${fence}console`,
    '$ claude-meter --version',
    '0.1.0',
    '$ claude-meter --help',
    `${fence}`,
    `${fence}json`,
    '{}',
    `${fence}`,
  ].join('\n');
  const { blocks, errors } = parseDocBlocks('d.md', doc);
  assert.deepEqual(errors, []);
  assert.deepEqual(
    blocks.map((b) => [b.line, b.lang, b.script]),
    [
      [1, 'sh', 'npm start'],
      [5, 'console', 'claude-meter --version\nclaude-meter --help'],
      [10, 'json', ''],
    ],
  );
});

test('markers: not-run with its reason, run options, a file to write', () => {
  const doc = [
    '<!-- not-run: needs Docker -->',
    `${fence}sh`,
    'docker compose up',
    `${fence}`,
    '<!-- run: serve, redis -->',
    `${fence}bash`,
    'REDIS_URL=redis://127.0.0.1:6379 npm start',
    `${fence}`,
    '<!-- run: exit 1 -->',
    `${fence}sh`,
    'claude-meter check-config bad.yaml',
    `${fence}`,
    '<!-- file: bad.yaml -->',
    `${fence}yaml`,
    'x: 1',
    `${fence}`,
  ].join('\n');
  const { blocks, errors } = parseDocBlocks('d.md', doc);
  assert.deepEqual(errors, []);
  assert.equal(blocks[0]!.notRun, 'needs Docker');
  assert.deepEqual(blocks[1]!.run, { serve: true, redis: true, exit: 0 });
  assert.deepEqual(blocks[2]!.run, { serve: false, redis: false, exit: 1 });
  assert.equal(blocks[3]!.writeTo, 'bad.yaml');
  assert.equal(blocks[3]!.body, 'x: 1');
});

test('a malformed marker is an error, never a skipped block', () => {
  const cases: Array<[string[], RegExp]> = [
    [['<!-- not-run: -->', `${fence}sh`, 'npm test', fence], /not-run needs a reason/],
    [['<!-- run: serv -->', `${fence}sh`, 'npm start', fence], /unknown run option 'serv'/],
    [['<!-- not-run: slow -->', '', `${fence}sh`, 'npm run bench', fence], /right before a fence/],
    [['<!-- file: x.yaml -->', `${fence}sh`, 'ls', fence], /not a shell block/],
    [['<!-- run: serve -->', `${fence}yaml`, 'a: 1', fence], /marks a shell block/],
    [['<!-- file: ../x.yaml -->', `${fence}yaml`, 'a: 1', fence], /plain file name/],
    [[`${fence}console`, 'output only', fence], /nothing to run/],
    [[`${fence}sh`, 'npm start'], /unclosed fence/],
  ];
  for (const [lines, error] of cases) {
    const { errors } = parseDocBlocks('d.md', lines.join('\n'));
    assert.ok(
      errors.some((e) => error.test(e)),
      `${lines.join(' / ')}: ${errors.join('; ') || 'no error'}`,
    );
  }
});
