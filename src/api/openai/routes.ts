import type { RouteKind } from '../../core/request.ts';
import { looseRoutePath, routePath } from '../../lib/route-path.ts';

/** The OpenAI endpoints that report usage, by the shape of what they answer. */
export type Endpoint = 'chat' | 'responses' | 'completions' | 'embeddings';

/**
 * Which metered endpoint a path names, by its last segments: `/v1/chat/completions`, and as
 * well `/chat/completions` (DeepSeek's spelling without `/v1`) or an Azure deployment's
 * `/openai/deployments/<name>/chat/completions`. Loose toward metering like the Anthropic
 * routes (api/anthropic/routes.ts): a spelling the upstream does not serve answers 404, which
 * releases the reservation, while one it bills and we passed through would go unmetered.
 */
export function endpoint(path: string): Endpoint | null {
  const p = routePath(path);
  return byTail(p) ?? byTail(looseRoutePath(p));
}

function byTail(p: string): Endpoint | null {
  if (p.endsWith('/chat/completions')) return 'chat';
  if (p.endsWith('/responses')) return 'responses';
  if (p.endsWith('/completions')) return 'completions';
  if (p.endsWith('/embeddings')) return 'embeddings';
  return null;
}

/**
 * POST to chat completions, Responses, completions or embeddings is metered (embeddings report
 * only prompt tokens); everything else (models, files, retrieving a stored response) passes
 * through. A query string and a trailing slash do not change the route.
 */
export function route(method: string, path: string): RouteKind {
  if (method.toUpperCase() !== 'POST') return 'passthrough';
  return endpoint(path) === null ? 'passthrough' : 'metered';
}
