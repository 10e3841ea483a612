/** The hop-by-hop header names of RFC 9110 §7.6.1 plus the de-facto ones, written out as the tests' oracle (not imported from src/). */
export const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];
