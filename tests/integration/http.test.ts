import { afterEach, describe, expect, it } from 'vitest';

import { createHttpServer, type HttpServer } from '../../src/transport/http.js';
import { capturingLog } from '../helpers/fixtures.js';

let server: HttpServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function listen(
  problems: () => Record<string, string>,
  warming: () => Record<string, string> = () => ({}),
): Promise<string> {
  const { log } = capturingLog();
  server = createHttpServer(log, () => ({ problems: problems(), warming: warming() }));
  return server.listen({ port: 0, host: '127.0.0.1' });
}

describe('HTTP probes, on a real loopback server', () => {
  it('answers /healthz while serving, whatever readiness says', async () => {
    const base = await listen(() => ({ pool: 'starting' }));
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz 200 only when nothing is wrong, else 503 naming every problem', async () => {
    let problems: Record<string, string> = { pool: 'starting', subscription: 'not open' };
    const base = await listen(() => problems);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not ready', problems });

    problems = {};
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('answers /readyz 200 naming what still warms up, and 503 when something is wrong as well', async () => {
    let problems: Record<string, string> = { pool: 'starting' };
    const warming = { publisher: 'not connected to Pub/Sub yet' };
    const base = await listen(
      () => problems,
      () => warming,
    );
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not ready', problems });

    problems = {};
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', warming });
  });

  it('answers an unknown route with 404 and a wrong method with 404, never 5xx', async () => {
    const base = await listen(() => ({}));
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/healthz`, { method: 'DELETE' })).status).toBe(404);
  });
});
