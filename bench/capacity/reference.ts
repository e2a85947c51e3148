// The capacity bench's reference: what a user of the anchors would write. The client library's
// streaming pull (flow control: 1,000 messages) or a plain node:http push endpoint feeds raw
// Piscina (a thread per core, 1,000 tasks per thread at once), which runs every processor of
// PROCESSORS_DIR on the event's documents (read from DOCUMENTS_DIR); then one reply is published
// and the message acked (push: 204). No deadlines, ledger, scheduling or checks. Run as its own
// process by the bench, configured by the same variables as `serve`; GET /readyz answers 200 once
// it takes messages.
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { PubSub, type Message } from '@google-cloud/pubsub';
import { Piscina } from 'piscina';

import { fixturePaths } from '../paths.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`reference: ${name} is not set`);
  return value;
};

const processorsDir = env('PROCESSORS_DIR');
const documentsDir = env('DOCUMENTS_DIR');
const files = readdirSync(processorsDir)
  .filter((f) => f.endsWith('.js') && !f.startsWith('_'))
  .map((f) => join(processorsDir, f));
const pool = new Piscina({
  filename: fixturePaths().rawWorker,
  minThreads: availableParallelism(),
  maxThreads: availableParallelism(),
  concurrentTasksPerWorker: 1_000,
});
const pubsub = new PubSub({ projectId: env('GOOGLE_CLOUD_PROJECT') });
const topic = pubsub.topic(env('COMPLETED_TOPIC'));

interface Underwriting {
  data: { underwriting_id: string; documents: string[] };
}

/** Runs every processor on the event's documents; publishes one reply. */
async function handle(data: Buffer, messageId: string): Promise<void> {
  const receivedAt = performance.now();
  const { data: event } = JSON.parse(data.toString('utf8')) as Underwriting;
  const documents: unknown[] = await Promise.all(
    event.documents.map(
      async (id) => JSON.parse(await readFile(join(documentsDir, `${id}.json`), 'utf8')) as unknown,
    ),
  );
  const input = JSON.stringify({ documents, missingDocuments: [] });
  const outcomes = await Promise.allSettled(files.map((file) => pool.run({ file, input })));
  const completed = outcomes.filter((o) => o.status === 'fulfilled').length;
  const reply = {
    event: 'processing.completed',
    underwriting_id: event.underwriting_id,
    summary: {
      total_processors: files.length,
      completed_count: completed,
      failed_count: files.length - completed,
      timeout_count: 0,
      total_execution_time: (performance.now() - receivedAt) / 1000,
    },
  };
  await topic.publishMessage({
    json: reply,
    attributes: { underwriting_id: event.underwriting_id, source_message_id: messageId },
  });
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

interface PushEnvelope {
  message: { data: string; messageId: string };
}

const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/readyz') {
    response.writeHead(200).end('ready');
    return;
  }
  if (request.method !== 'POST' || request.url !== '/pubsub/push') {
    response.writeHead(404).end();
    return;
  }
  readBody(request)
    .then((body) => {
      const { message } = JSON.parse(body) as PushEnvelope;
      return handle(Buffer.from(message.data, 'base64'), message.messageId);
    })
    .then(
      () => response.writeHead(204).end(),
      (err: unknown) => {
        console.error('reference: push failed:', err);
        response.writeHead(503).end();
      },
    );
});

const subscriptionName = process.env['UNDERWRITING_SUBSCRIPTION'];
if (subscriptionName) {
  const subscription = pubsub.subscription(subscriptionName, { flowControl: { maxMessages: 1_000 } });
  subscription.on('message', (message: Message) => {
    handle(message.data, message.id).then(
      () => message.ack(),
      (err: unknown) => {
        console.error('reference: event failed:', err);
        message.nack();
      },
    );
  });
  subscription.on('error', (err: unknown) => console.error('reference: subscription:', err));
}
server.listen(Number(env('PORT')), '127.0.0.1');
