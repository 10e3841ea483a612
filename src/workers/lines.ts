/**
 * Whole lines out of a byte stream. A worker's log lines reach the primary through a pipe, in
 * chunks that may end mid-line; the primary writes only what ends in a newline, so lines of
 * two workers never interleave, and keeps the tail for the next chunk. One split per chunk,
 * not per line: a chunk of a hundred lines passes through as one write.
 */
export class LineJoiner {
  #tail = '';

  /** The complete lines so far (each with its newline), or '' when the chunk ends no line. */
  push(chunk: string): string {
    const end = chunk.lastIndexOf('\n');
    if (end < 0) {
      this.#tail += chunk;
      return '';
    }
    const out = this.#tail + chunk.slice(0, end + 1);
    this.#tail = chunk.slice(end + 1);
    return out;
  }

  /** What is left when the stream ends: a last line without its newline, given one. */
  end(): string {
    const out = this.#tail === '' ? '' : `${this.#tail}\n`;
    this.#tail = '';
    return out;
  }
}
