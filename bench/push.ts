// Pushes through `serve` (its own process, three trivial processors, the emulator for the
// publish): requests/s and latency with every push token verified in the app (PUSH_AUTH=required,
// keys on loopback) against the same service with PUSH_AUTH=disabled: what the check costs.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { SignJWT, exportJWK, generateKeyPair } from 'jose';

import { examplesDir, packageRoot } from '../src/paths.js';
import { createPubSub } from '../src/transport/pubsub-client.js';
import { PUSH_PATH } from '../src/transport/push.js';
import { spawnContender } from './child.js';
import { withEmulators } from './emulators.js';
import { MEASURES } from './measures.js';
import { fixturePaths } from './paths.js';
import { interleavedRounds } from './rounds.js';
import { quantile } from './stats.js';
import { int, ms1, quotientRow, row, signedMs, type Row } from './table.js';

export interface PushSettings {
  rounds: number;
  /** Pushes measured per run, after `warmup` unmeasured ones. */
  requests: number;
  warmup: number;
  /** Requests in flight at once (Pub/Sub push keeps many open). */
  concurrency: number;
  targets: { authRatio: number };
}

type Mode = 'required' | 'disabled';

interface PushRun {
  requestsPerSecond: number;
  latenciesMs: number[];
}

const PROJECT = 'bench-project';
const AUDIENCE = 'https://orchestrator.bench/pubsub/push';
const PUSH_SA = 'pubsub-push@bench-project.iam.gserviceaccount.com';
let runs = 0;

/** Google's role, played on loopback: a key pair, its JWKS served, one token signed. */
async function startSigner() {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' };
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  // Pub/Sub reuses a token for its hour of validity: one token, verified on every request.
  const token = await new SignJWT({ email: PUSH_SA, email_verified: true })
    .setProtectedHeader({ alg: 'RS256', kid: 'bench' })
    .setIssuer('https://accounts.google.com')
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  return {
    jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/certs`,
    token,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Signer = Awaited<ReturnType<typeof startSigner>>;

const body = (i: number) =>
  JSON.stringify({
    message: {
      data: Buffer.from(
        JSON.stringify({
          event: 'underwriting.created',
          data: { underwriting_id: `uw_push_${i}`, documents: ['doc_001'] },
        }),
      ).toString('base64'),
      messageId: `bench-push-${i}`,
      publishTime: new Date().toISOString(),
    },
    subscription: `projects/${PROJECT}/subscriptions/bench-push`,
  });

async function pushRun(mode: Mode, host: string, signer: Signer, settings: PushSettings): Promise<PushRun> {
  const pubsub = createPubSub({ projectId: PROJECT, emulatorHost: host });
  const topic = `bench-push-out-${process.pid}-${++runs}`;
  await pubsub.createTopic(topic);
  let port: number | undefined;
  let resolvePort: (port: number) => void = () => {};
  const serving = new Promise<number>((resolve) => (resolvePort = resolve));
  let partial = '';
  const child = spawnContender(
    `serve (PUSH_AUTH=${mode})`,
    [join(packageRoot, 'dist', 'src', 'cli.js'), 'serve'],
    {
      GOOGLE_CLOUD_PROJECT: PROJECT,
      PUBSUB_EMULATOR_HOST: host,
      COMPLETED_TOPIC: topic,
      PROCESSORS_DIR: fixturePaths().trivialDir,
      DOCUMENTS_DIR: join(examplesDir, 'documents'),
      PORT: '0',
      LOG_LEVEL: 'info',
      PUSH_AUTH: mode,
      PUSH_AUDIENCE: AUDIENCE,
      PUSH_SERVICE_ACCOUNT: PUSH_SA,
      PUSH_JWKS_URL: signer.jwksUrl,
    },
    (text) => {
      if (port !== undefined) return;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const parsed = JSON.parse(line) as { message?: string; port?: number };
        if (parsed.message === 'serving' && parsed.port !== undefined) resolvePort((port = parsed.port));
      }
    },
  );
  const exited = once(child, 'exit');
  try {
    const died = exited.then(() =>
      Promise.reject(new Error(`bench: serve (PUSH_AUTH=${mode}) exited at start`)),
    );
    const url = `http://127.0.0.1:${await Promise.race([serving, died])}${PUSH_PATH}`;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${signer.token}` };
    let next = 0;
    const latenciesMs: number[] = [];
    const send = async (count: number, record: boolean) => {
      const last = next + count;
      const worker = async () => {
        while (next < last) {
          const i = next++;
          const sentAt = performance.now();
          const res = await fetch(url, { method: 'POST', headers, body: body(i) });
          if (res.status !== 204)
            throw new Error(`bench: push ${i} answered ${res.status}: ${await res.text()}`);
          if (record) latenciesMs.push(performance.now() - sentAt);
        }
      };
      await Promise.all(Array.from({ length: settings.concurrency }, worker));
    };
    await send(settings.warmup, false);
    const start = performance.now();
    await send(settings.requests, true);
    return { requestsPerSecond: settings.requests / ((performance.now() - start) / 1000), latenciesMs };
  } finally {
    child.kill('SIGTERM');
    await exited;
    await pubsub.close();
  }
}

/**
 * The push rows: requests/s with the token verified against PUSH_AUTH=disabled (alternating,
 * median of the rounds), and the latency each adds.
 */
export async function pushRows(settings: PushSettings, progress: (m: string) => void): Promise<Row[]> {
  const signer = await startSigner();
  try {
    const runs = await withEmulators(['pubsub'], ({ pubsub }) =>
      interleavedRounds({
        sides: ['disabled', 'required'] as const,
        rounds: settings.rounds,
        run: (mode: Mode) => pushRun(mode, pubsub.host, signer, settings),
        progress: {
          say: progress,
          label: 'push',
          show: (mode, run) => `PUSH_AUTH=${mode} ${int(run.requestsPerSecond)} pushes/s`,
        },
      }),
    );
    const rps = (mode: Mode) => runs.median(mode, (r) => r.requestsPerSecond);
    const p50 = (mode: Mode) => runs.median(mode, (r) => quantile(r.latenciesMs, 0.5));
    const { requests, concurrency, rounds, targets } = settings;
    return [
      quotientRow(MEASURES.pushAuthThroughput, {
        detail: `requests/s, token verified vs PUSH_AUTH=disabled, ${requests} pushes, ${concurrency} in flight (median of ${rounds})`,
        ours: rps('required'),
        baseline: rps('disabled'),
        show: int,
        bound: { atLeast: targets.authRatio },
      }),
      row(MEASURES.pushAuthLatency, {
        detail: 'token verified vs PUSH_AUTH=disabled',
        ours: ms1(p50('required')),
        baseline: ms1(p50('disabled')),
        ratio: signedMs(p50('required') - p50('disabled')),
      }),
    ];
  } finally {
    await signer.close();
  }
}
