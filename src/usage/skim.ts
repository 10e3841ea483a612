/** What the tap keeps of an SSE event larger than `limits.max_sse_event_bytes`. */
import type { Dialect, StreamReading } from '../core/dialect.ts';
import { JsonStreamPick } from '../lib/json-stream-pick.ts';
import type { Skim } from './sse-decoder.ts';

/** A Skim for an oversized event that carries no usage: only its size is kept (for the output estimate, if content). */
class SizeOnly implements Skim {
  #bytes = 0;
  readonly #done: (bytes: number) => void;
  constructor(done: (bytes: number) => void) {
    this.#done = done;
  }
  write(bytes: Uint8Array): void {
    this.#bytes += bytes.length;
  }
  end(): null {
    this.#done(this.#bytes);
    return null;
  }
}

/**
 * An oversized event keeps the members the dialect reads usage from (so an oversized opening
 * event keeps its input tokens), at most `maxBytes` of them; one that carries no usage keeps
 * only its size. Either way the bulk is scanned once and dropped.
 */
export function oversizedEvents(dialect: Dialect, reading: StreamReading, maxBytes: number): (event: string | null) => Skim {
  return (event) => {
    const kind = event === null ? 'usage' : dialect.eventKind(event);
    if (kind === 'usage') return new JsonStreamPick(dialect.streamMembers, maxBytes);
    return new SizeOnly((bytes) => {
      if (kind === 'content') reading.onContent(bytes);
    });
  };
}
