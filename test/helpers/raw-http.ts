/**
 * One HTTP/1.1 request over a plain socket, so the request line goes out byte for byte (fetch
 * and http.request normalize or refuse odd targets), and the whole response read to the close.
 */
import net from 'node:net';

export interface RawResponse {
  /** 0 when the server closed the connection without answering. */
  status: number;
  /** Lower-case names; repeated names joined with ', '. */
  headers: Record<string, string>;
  /** The body, de-chunked when the response was chunked. */
  body: string;
}

export function rawRequest(
  url: string,
  opts: { method: string; target: string; headers?: Array<[string, string]>; body?: string },
): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const body = opts.body ?? '';
  const lines = [`${opts.method} ${opts.target} HTTP/1.1`, `Host: ${hostname}:${port}`];
  for (const [name, value] of opts.headers ?? []) lines.push(`${name}: ${value}`);
  if (body !== '') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  lines.push('Connection: close');
  const request = Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
  return new Promise((resolve, reject) => {
    // write, not end: a half-closed socket reads as a client that left.
    const socket = net.connect(Number(port), hostname, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(parse(Buffer.concat(chunks).toString('latin1'))));
  });
}

function parse(text: string): RawResponse {
  if (text === '') return { status: 0, headers: {}, body: '' };
  const end = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...headerLines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const rest = text.slice(end + 4);
  return { status: Number(statusLine.split(' ')[1]), headers, body: headers['transfer-encoding'] === 'chunked' ? dechunk(rest) : rest };
}

function dechunk(text: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const eol = text.indexOf('\r\n', i);
    const size = Number.parseInt(text.slice(i, eol), 16);
    if (!(size > 0)) return out;
    out += text.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
}
