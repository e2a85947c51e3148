// The HTTP document source against a loopback document service that takes DELAY_MS per
// document: how close one event's fetch comes to the ideal of ceil(documents / cap) × DELAY_MS.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { pino } from 'pino';

import { DEFAULTS } from '../src/config.js';
import { createHttpDocumentSource } from '../src/documents/http-source.js';
import { median } from './stats.js';
import { MEASURES } from './measures.js';
import { boundTarget, row, type Row } from './table.js';

export interface DocumentsSettings {
  documents: number;
  delayMs: number;
  concurrency: number;
  runs: number;
  warmupRuns: number;
  targets: { idealRatio: number };
}

export async function documentsRows(
  settings: DocumentsSettings,
  progress: (m: string) => void,
): Promise<Row[]> {
  const { documents, delayMs, concurrency } = settings;
  const server = createServer((request, response) => {
    const id = decodeURIComponent((request.url ?? '').split('/').pop() ?? '');
    const body = JSON.stringify({ document_id: id, document_type: 'bank_statement', metadata: {} });
    setTimeout(() => response.writeHead(200, { 'content-type': 'application/json' }).end(body), delayMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const source = createHttpDocumentSource({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    concurrency,
    timeoutMs: DEFAULTS.DOCUMENTS_TIMEOUT_MS,
    budgetMs: DEFAULTS.DOCUMENTS_BUDGET_MS,
    attempts: DEFAULTS.DOCUMENTS_ATTEMPTS,
    log: pino({ level: 'silent' }),
  });
  try {
    const ids = Array.from({ length: documents }, (_, i) => `doc_${i}`);
    const timesMs: number[] = [];
    for (let run = 0; run < settings.warmupRuns + settings.runs; run++) {
      const started = performance.now();
      const batch = await source.fetch(ids);
      if (batch.documents.length !== documents)
        throw new Error(`bench: ${batch.missing.length} documents missing`);
      if (run >= settings.warmupRuns) timesMs.push(performance.now() - started);
      await sleep(10);
    }
    const idealMs = Math.ceil(documents / concurrency) * delayMs;
    const measuredMs = median(timesMs);
    progress(`documents: ${timesMs.map((t) => t.toFixed(0)).join(', ')} ms (ideal ${idealMs} ms)`);
    const ratio = measuredMs / idealMs;
    return [
      row(MEASURES.documentFetch, {
        detail: `${documents} documents at ${delayMs} ms each, ${concurrency} at once, vs ideal ceil(${documents}/${concurrency}) x ${delayMs} ms (median of ${settings.runs})`,
        ours: `${measuredMs.toFixed(1)} ms`,
        baseline: `${idealMs} ms`,
        ratio: ratio.toFixed(2),
        target: boundTarget(ratio, { atMost: settings.targets.idealRatio }),
      }),
    ];
  } finally {
    await source.close();
    server.close();
  }
}
