import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidTarget } from '../core/errors.ts';
import { parseTarget } from '../core/target.ts';
import { handleAdmin, isAdminPath, type AdminDeps } from './admin.ts';
import { handleProxied, type PipelineDeps } from './pipeline.ts';
import { refuseUnrecorded } from './respond.ts';

/** What `OPTIONS *` answers: the methods the proxy forwards (the upstream decides per route). */
const ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

export function serve(deps: { pipeline: PipelineDeps; admin: AdminDeps }, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const target = parseTarget(req.url ?? '/');
  if (target.kind === 'path') {
    if (!isAdminPath(target.path)) return handleProxied(deps.pipeline, req, res, target);
    // The admin routes read req.url: give them the canonical target, so no spelling of a path skips their token check.
    req.url = target.path + target.query;
    return handleAdmin(deps.admin, req, res);
  }
  if (target.kind === 'asterisk' && req.method === 'OPTIONS') {
    // The server as a whole, not a resource: answered here, never forwarded (RFC 9110 §9.3.7).
    res.writeHead(204, { allow: ALLOW });
    res.end();
    return Promise.resolve();
  }
  const reason = target.kind === 'refused' ? target.reason : 'the asterisk form (*) is for OPTIONS only';
  // Before routing: the default upstream's error shape.
  const dialect = deps.pipeline.settings().upstreams.default.dialect;
  refuseUnrecorded(res, invalidTarget(reason), dialect, deps.pipeline.logger, { method: req.method, reason });
  return Promise.resolve();
}
