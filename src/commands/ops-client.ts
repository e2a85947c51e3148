import { OrchestratorError, messageOf } from '../errors.js';
import { CSRF_HEADER } from '../ops/same-origin.js';

/** Where `dev` serves (its default PORT). */
export const DEFAULT_OPS_URL = 'http://127.0.0.1:8080';

/** The options `status`, `rerun`, `pause` and `resume` share. */
export const OPS_CLIENT_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  audience: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export interface OpsClient {
  get(path: string): Promise<unknown>;
  /** `headers`: more request headers (an `Idempotency-Key`). */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<unknown>;
}

/**
 * A client of a running service's `/ops` API. Any answer but 2xx, or no answer, is
 * OPS_REQUEST_FAILED with the status and the service's reason. The token is never printed.
 */
export function createOpsClient(options: { url?: string; token?: string; audience?: string }): OpsClient {
  const base = (options.url ?? DEFAULT_OPS_URL).replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new OrchestratorError('USAGE', `--url: ${base} is not a URL`);
  }
  const audience = options.audience ?? process.env['OPS_AUDIENCE'];
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);

  async function authorization(): Promise<string | undefined> {
    if (options.token !== undefined) return `Bearer ${options.token}`;
    if (loopback && audience === undefined) return undefined;
    const { googleIdTokenHeader } = await import('../documents/id-token.js');
    try {
      return await googleIdTokenHeader(audience ?? url.origin)();
    } catch (err) {
      throw new OrchestratorError(
        'OPS_REQUEST_FAILED',
        `no ID token from Application Default Credentials (${messageOf(err)}); pass --token "$(gcloud auth print-identity-token --audiences=${audience ?? url.origin})"`,
      );
    }
  }

  async function send(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<unknown> {
    const auth = await authorization();
    const target = `${base}${path}`;
    let response: Response;
    try {
      response = await fetch(target, {
        method,
        headers: {
          accept: 'application/json',
          [CSRF_HEADER]: 'processor-orchestrator-cli',
          ...(auth && { authorization: auth }),
          ...(body !== undefined && { 'content-type': 'application/json' }),
          ...extra,
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
    } catch (err) {
      const cause = messageOf((err as { cause?: unknown }).cause ?? err);
      throw new OrchestratorError(
        'OPS_REQUEST_FAILED',
        `${method} ${target}: no answer (${cause}); is the service running?`,
      );
    }
    const text = await response.text();
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = text;
    }
    if (!response.ok) {
      const reason = (answer as { error?: unknown } | null)?.error;
      throw new OrchestratorError(
        'OPS_REQUEST_FAILED',
        `${method} ${target}: ${response.status} ${typeof reason === 'string' ? reason : text.slice(0, 200)}`,
      );
    }
    return answer;
  }

  return {
    get: (path) => send('GET', path),
    post: (path, body, headers) => send('POST', path, body, headers),
  };
}
