/**
 * The layering of src/, checked by `npm test` (test/unit/repo/layers.test.ts) and by
 * `npx depcruise src`. Folders are the stages of the data flow; a module may import its own
 * folder and the groups listed before its own, never a peer in its group or anything later.
 * So there are no folder cycles by construction.
 */
const LAYERS = [
  ['core', 'version.ts'], // primitives: money, time, usage, errors, request, dialect
  ['lib'], // clock, logger, generic helpers
  ['api', 'usage', 'pricing', 'redis', 'upstream', 'alerts'], // a dialect; observing a response; prices; connections; transport; webhooks
  ['store'], // records and their time buckets
  ['metrics'], // Prometheus exposition of records
  ['meter'], // measurement → priced record
  ['budget'], // decisions: admission, waiting, pacing, estimate; budget/store: the adapters behind its ports
  ['config'], // the YAML config, validated (owns no domain types)
  ['forecast'], // projections, spikes; forecast/eval: backtest, baselines, the CSV reader
  ['report'], // usage, budget and forecast answers for admin routes and commands
  ['http'], // the request pipeline and admin routes
  ['compose'], // the component graph, budget wiring and reload snapshot
  ['simulate'], // offline replay of budgets and forecasts, wired as the proxy wires them
  ['app.ts'], // serving the graph
  ['workers'], // start --workers N: the cluster primary and a worker's side of it
  ['commands'], // CLI subcommands
  ['main.ts'], // the only reader of argv and process.env
  ['cli.ts'],
];

const path = (name) => (name.endsWith('.ts') ? `^src/${name.replace('.', '\\.')}$` : `^src/${name}/`);

const forbidden = [];
LAYERS.forEach((group, i) => {
  for (const name of group) {
    const later = LAYERS.slice(i)
      .flat()
      .filter((other) => other !== name);
    if (later.length === 0) continue;
    forbidden.push({
      name: `layer:${name}`,
      comment: `src/${name} may import only ${LAYERS.slice(0, i).flat().join(', ') || 'nothing outside itself'}`,
      severity: 'error',
      from: { path: path(name) },
      to: { path: `(${later.map(path).join('|')})` },
    });
  }
});
forbidden.push(
  {
    name: 'budget-decides-through-ports',
    comment: 'budget decisions see storage only through the ports in budget/types.ts (envoy keeps the limiter apart from its backends)',
    severity: 'error',
    from: { path: '^src/budget/', pathNot: '^src/budget/store/' },
    to: { path: '^src/budget/store/' },
  },
  {
    name: 'adapters-built-in-composition',
    comment: 'only the composition root and the simulator build budget storage adapters',
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/(budget/store|compose|simulate)/' },
    to: { path: '^src/budget/store/' },
  },
  { name: 'no-circular', severity: 'error', from: { path: '^src/' }, to: { circular: true } },
  {
    name: 'src-stands-alone',
    comment: 'the product never imports tests or benchmarks',
    severity: 'error',
    from: { path: '^src/' },
    to: { path: '^(test|bench)/' },
  },
  {
    name: 'known-folder',
    comment: 'every folder of src/ has a place in LAYERS',
    severity: 'error',
    from: { path: '^src/', pathNot: `(${LAYERS.flat().map(path).join('|')})` },
    to: {},
  },
);

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
