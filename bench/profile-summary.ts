/**
 * Summarises a V8 .cpuprofile (from BENCH_PROFILE=dir npm run bench): top functions by self
 * time, and by inclusive time for frames in this repo's src/. Usage:
 *   npx tsx bench/profile-summary.ts <file.cpuprofile> [top=25]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

process.stdout.on('error', () => process.exit(0)); // e.g. piped into head
const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [top]');
const top = Number(topArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const key = (n: Node) => {
  const url = n.callFrame.url.replace(/^file:\/\/.*?\/(src|node_modules|bench|test)\//, '$1/');
  return `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
};

const self = new Map<string, number>();
const incl = new Map<string, number>();
let total = 0;
prof.samples.forEach((id, i) => {
  const dt = prof.timeDeltas[i] ?? 0;
  total += dt;
  const n = byId.get(id)!;
  self.set(key(n), (self.get(key(n)) ?? 0) + dt);
  const seen = new Set<string>(); // recursion must not count a frame twice
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const k = key(byId.get(cur)!);
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + dt);
  }
});

const busy = total - (self.get('(idle)') ?? 0);
const show = (title: string, m: Map<string, number>, filter: (k: string) => boolean) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...m]
    .filter(([k]) => filter(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top))
    console.log(`${((us / busy) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
};
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (percentages are of busy time)`);
show('self time', self, (k) => !k.startsWith('(idle)'));
show('inclusive time, src/ frames', incl, (k) => k.includes(' src/'));
show('inclusive time, all frames', incl, (k) => !k.startsWith('(root)') && !k.startsWith('(idle)'));
