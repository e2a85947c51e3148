import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';

import { loadConfig } from '../../src/config.js';
import { ProcessingCompletedSchema } from '../../src/events/processing-completed.js';
import { startService, type Service } from '../../src/service.js';
import { cli } from '../helpers/cli.js';
import { startDocumentServer, type DocumentServer } from '../helpers/document-server.js';
import { doc } from '../helpers/document-source-contract.js';
import { fixtureProcessorsDir, silentLog } from '../helpers/fixtures.js';
import { postPush, pushEnvelope } from '../helpers/push.js';
import {
  TEST_PROJECT_ID,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
} from '../helpers/pubsub.js';

const AUDIENCE = 'https://documents.test';
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const ID_TOKEN = `${base64url({ alg: 'RS256' })}.${base64url({ aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 3600 })}.sig`;

let scratch: string;
let metadata: Server;
let identityRequests: string[] = [];
let metadataHost: string;

const event = (id: string, documents: string[]) =>
  JSON.stringify({
    event: 'underwriting.created',
    data: { underwriting_id: id, documents, purchased_processors: ['fx_ok'] },
  });

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'documents-url-'));
  // The metadata server of Cloud Run, as google-auth-library finds it (GCE_METADATA_HOST).
  metadata = createServer((request, response) => {
    if (request.url?.startsWith('/computeMetadata/v1/instance/service-accounts/default/identity')) {
      identityRequests.push(request.url);
      response.writeHead(200, { 'metadata-flavor': 'Google', 'content-type': 'text/plain' }).end(ID_TOKEN);
      return;
    }
    response.writeHead(200, { 'metadata-flavor': 'Google', 'content-type': 'text/plain' }).end('');
  });
  metadata.listen(0, '127.0.0.1');
  await new Promise((resolve) => metadata.once('listening', resolve));
  metadataHost = `127.0.0.1:${(metadata.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => metadata.close(resolve));
});

describe('documents from DOCUMENTS_URL', () => {
  let documents: DocumentServer;
  let service: Service | undefined;

  beforeAll(async () => {
    documents = await startDocumentServer({
      documents: { doc_a: doc('doc_a'), doc_b: doc('doc_b', 'tax_return') },
    });
  });

  afterEach(async () => {
    await service?.stop('test over');
    service = undefined;
    identityRequests = [];
  });

  afterAll(async () => {
    await documents.close();
  });

  it('run fetches them with a Google ID token for DOCUMENTS_AUDIENCE from the metadata server, fetched once', async () => {
    const file = join(scratch, 'event.json');
    writeFileSync(file, event('uw_http', ['doc_a', 'doc_b', 'doc_gone']));
    const { code, stdout, stderr } = await cli(['run', file], {
      DOCUMENTS_URL: documents.url,
      DOCUMENTS_AUDIENCE: AUDIENCE,
      PROCESSORS_DIR: fixtureProcessorsDir,
      GCE_METADATA_HOST: metadataHost,
      // No Application Default Credentials file may be found before the metadata server.
      HOME: scratch,
    });
    expect(stderr).not.toMatch(/"severity":"(ERROR|CRITICAL)"/);
    expect(code).toBe(0);
    const result = ProcessingCompletedSchema.parse(JSON.parse(stdout));
    expect(result.completed_processors[0]?.factors).toMatchObject({
      documents: ['doc_a', 'doc_b'],
      missing: ['doc_gone'],
    });
    const asked = documents.requests.filter((r) => r.id?.startsWith('doc_'));
    expect(asked.map((r) => r.authorization)).toEqual([
      `Bearer ${ID_TOKEN}`,
      `Bearer ${ID_TOKEN}`,
      `Bearer ${ID_TOKEN}`,
    ]);
    expect(identityRequests).toHaveLength(1);
    expect(new URL(identityRequests[0] ?? '', 'http://x').searchParams.get('audience')).toBe(AUDIENCE);
  });

  it('serve answers a push 503 while the document service fails, and 204 once it answers', async () => {
    const host = inject('pubsubEmulatorHost');
    const pubsub = emulatorPubSub(host);
    const completedTopic = uniqueName('completed');
    const { subscription } = await createTopicWithSubscription(
      pubsub,
      completedTopic,
      `${completedTopic}-sub`,
    );
    const completed = collectMessages(subscription);
    const flaky = await startDocumentServer({
      documents: { doc_a: doc('doc_a') },
      faults: { doc_a: [503, 503] },
    });
    try {
      const config = loadConfig({
        GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
        PUBSUB_EMULATOR_HOST: host,
        PUSH_AUTH: 'disabled',
        COMPLETED_TOPIC: completedTopic,
        PROCESSORS_DIR: fixtureProcessorsDir,
        DOCUMENTS_URL: flaky.url,
        DOCUMENTS_ATTEMPTS: '1',
        PORT: '0',
      });
      service = await startService(config, silentLog, '127.0.0.1');
      const body = pushEnvelope(event('uw_flaky', ['doc_a']), { messageId: 'm-flaky' });
      const push = () => postPush(`http://127.0.0.1:${service!.port}`, body);
      expect((await push()).status).toBe(503);
      expect((await push()).status).toBe(503);
      expect(completed.messages).toEqual([]);
      expect((await push()).status).toBe(204);
      const [message] = await completed.waitFor(1, 5_000);
      expect(JSON.parse(message!.data)).toMatchObject({
        underwriting_id: 'uw_flaky',
        overall_status: 'success',
      });
    } finally {
      await completed.close();
      await pubsub.close();
      await flaky.close();
    }
  });
});
