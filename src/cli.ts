/** Executable entry: `tsx src/cli.ts …` and bin/claude-meter.js both land here. */
import { main } from './main.ts';

main(process.argv.slice(2)).then(
  (code) => {
    // -1: a long-running command (start) owns the process now.
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`claude-meter: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
