import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What the server does with one request for a document, in order: `ok` serves the document (or
 * 404 when it has none), a number answers that status, `hang` never answers, `{ status,
 * retryAfter }` answers with a Retry-After header, `{ body }` answers 200 with that raw body.
 */
export type Fault =
  'ok' | 'hang' | number | { status: number; retryAfter: string } | { body: string | Buffer };

export interface DocumentServerOptions {
  /** Documents by id: an object is served as JSON, a string as it is. */
  documents: Record<string, unknown>;
  /** Per id, what its successive requests get; after the list, `ok`. */
  faults?: Record<string, Fault[]>;
  /** How long every answer takes. */
  delayMs?: number;
}

export interface RequestRecord {
  path: string;
  /** The decoded id, when the path is `/documents/{one segment}`. */
  id: string | undefined;
  authorization: string | undefined;
  /** The W3C trace context the request carried. */
  traceparent: string | undefined;
  at: number;
}

/** A document service on loopback that injects faults and records what it is asked. */
export interface DocumentServer {
  url: string;
  requests: RequestRecord[];
  /** The most requests it had in flight at once. */
  maxInFlight(): number;
  /** TCP connections opened so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function startDocumentServer(options: DocumentServerOptions): Promise<DocumentServer> {
  const requests: RequestRecord[] = [];
  const served = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  let inFlight = 0;
  let maxInFlight = 0;
  let connections = 0;

  const answer = (request: IncomingMessage, response: ServerResponse) => {
    const path = request.url ?? '';
    const match = /^\/documents\/([^/]+)$/.exec(path);
    const id = match ? decodeURIComponent(match[1] as string) : undefined;
    requests.push({
      path,
      id,
      authorization: request.headers.authorization,
      traceparent: request.headers.traceparent as string | undefined,
      at: performance.now(),
    });
    if (id === undefined) return response.writeHead(404).end();
    const count = served.get(id) ?? 0;
    served.set(id, count + 1);
    const fault = options.faults?.[id]?.[count] ?? 'ok';
    if (fault === 'hang') {
      hanging.add(response);
      return;
    }
    if (typeof fault === 'number') return response.writeHead(fault).end(`{"error":${fault}}`);
    if (typeof fault === 'object' && 'retryAfter' in fault) {
      return response.writeHead(fault.status, { 'retry-after': fault.retryAfter }).end();
    }
    if (typeof fault === 'object')
      return response.writeHead(200, { 'content-type': 'application/json' }).end(fault.body);
    const document = options.documents[id];
    if (document === undefined) return response.writeHead(404).end('{"error":"not found"}');
    const body = typeof document === 'string' ? document : JSON.stringify(document);
    return response.writeHead(200, { 'content-type': 'application/json' }).end(body);
  };

  const server: Server = createServer((request, response) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    response.on('close', () => (inFlight -= 1));
    if (options.delayMs) setTimeout(() => answer(request, response), options.delayMs);
    else answer(request, response);
  });
  server.on('connection', () => (connections += 1));
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    maxInFlight: () => maxInFlight,
    connections: () => connections,
    close: () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
