/**
 * The fenced blocks of a Markdown document and the markers that say how the docs test treats
 * them (docs/testing.md, "The docs are tested"). Pure: text in, blocks or errors out.
 *
 * A marker is an HTML comment on the line right before a fence:
 *   <!-- not-run: REASON -->          a shell block that cannot run in a test, and why
 *   <!-- run: serve[, redis][, exit N] -->   how a shell block runs
 *   <!-- file: NAME -->               a non-shell block written to NAME for the blocks after it
 */

export const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console']);

export interface RunOptions {
  /** Starts a server: run with PORT set, must answer /_meter/health, then stopped. */
  serve: boolean;
  /** Needs a Redis: REDIS_URL set, and redis://127.0.0.1:6379 in the block pointed at it. */
  redis: boolean;
  /** The exit status the block must end with. */
  exit: number;
}

export interface DocBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  body: string;
  /** Shell blocks: the script to run (for `console`, the lines after `$ `). */
  script: string;
  notRun: string | null;
  run: RunOptions;
  /** Non-shell blocks with a `file:` marker: where to write the body. */
  writeTo: string | null;
}

const MARKER = /^<!--\s*(not-run|run|file)\s*:(.*?)-->\s*$/;
const FENCE = /^```(\S*)\s*$/;

/** The script a shell block runs: `console` blocks run only their `$ ` lines. */
export function scriptOf(lang: string, body: string): string {
  if (lang !== 'console') return body;
  return body
    .split('\n')
    .filter((l) => l.startsWith('$ '))
    .map((l) => l.slice(2))
    .join('\n');
}

function parseRun(value: string): RunOptions | string {
  const run: RunOptions = { serve: false, redis: false, exit: 0 };
  for (const part of value.split(',').map((p) => p.trim())) {
    const exit = /^exit (\d+)$/.exec(part);
    if (part === 'serve') run.serve = true;
    else if (part === 'redis') run.redis = true;
    else if (exit) run.exit = Number(exit[1]);
    else return `unknown run option '${part}'`;
  }
  return run;
}

/** Every fenced block of one document, or the marker errors found in it. */
export function parseDocBlocks(file: string, text: string): { blocks: DocBlock[]; errors: string[] } {
  const lines = text.split('\n');
  const blocks: DocBlock[] = [];
  const errors: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const marker = MARKER.exec(line.trim());
    if (marker && !FENCE.test(lines[i + 1] ?? '')) errors.push(`${file}:${i + 1}: a marker must be on the line right before a fence`);
    const fence = FENCE.exec(line);
    if (!fence) continue;
    const lang = fence[1] ?? '';
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i++) body.push(lines[i] ?? '');
    if (i >= lines.length) errors.push(`${file}:${start + 1}: unclosed fence`);
    const where = `${file}:${start + 1}`;
    const shell = SHELL_LANGS.has(lang);
    const block: DocBlock = {
      file,
      line: start + 1,
      lang,
      body: body.join('\n'),
      script: '',
      notRun: null,
      run: { serve: false, redis: false, exit: 0 },
      writeTo: null,
    };
    block.script = shell ? scriptOf(lang, block.body) : '';
    const m = MARKER.exec((lines[start - 1] ?? '').trim());
    if (m) {
      const [kind, value] = [m[1], (m[2] ?? '').trim()];
      if (kind === 'file') {
        if (shell) errors.push(`${where}: file: marks a block to write, not a shell block`);
        else if (!/^[\w.-]+$/.test(value)) errors.push(`${where}: file: needs a plain file name, got '${value}'`);
        else block.writeTo = value;
      } else if (!shell) {
        errors.push(`${where}: ${kind}: marks a shell block, this is '${lang}'`);
      } else if (kind === 'not-run') {
        if (value === '') errors.push(`${where}: not-run needs a reason`);
        else block.notRun = value;
      } else {
        const run = parseRun(value);
        if (typeof run === 'string') errors.push(`${where}: ${run}`);
        else block.run = run;
      }
    }
    if (shell && block.notRun === null && block.script.trim() === '') errors.push(`${where}: a shell block with nothing to run`);
    blocks.push(block);
  }
  return { blocks, errors };
}
