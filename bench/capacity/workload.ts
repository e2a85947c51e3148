// The capacity workload: the specification's shape scaled from minutes to seconds. Each event has
// four processors (bench/fixtures/capacity): one computes about 2 ms; three read their documents
// and await 1 s, 2 s and 3 s; the 3 s one then computes about 1 ms. Documents are files of a
// DOCUMENTS_DIR the bench writes: a few KB per event, or about 512 KB per event in the large case.
// The first-event cases use processors written here too: N identical ones that each read their
// documents and await 1 s (they differ only by id), and ones that compute and say when they ran.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { fixturePaths } from '../paths.js';
import { calibrate } from '../scheduler.js';

export const SMALL_DOCUMENTS = ['cap_small_1', 'cap_small_2', 'cap_small_3'] as const;
export const LARGE_DOCUMENTS = ['cap_large_1', 'cap_large_2'] as const;
/** Each large document's content, in characters (one byte each): two make 512 KiB per event. */
const LARGE_CONTENT_CHARS = 256 * 1024;
const SMALL_CONTENT_CHARS = 1024;
/** How long a computing processor of the mixed first event computes. */
export const COLD_COMPUTE_MS = 150;

export interface Workload {
  /** The four processors of every event. */
  processorsDir: string;
  documentsDir: string;
  /** What every contender's processors need in their environment (the calibrated loop). */
  env: Record<string, string>;
  /** A folder of `count` processors that each read their documents and await 1 s. */
  waitingDir(count: number): string;
  /** A folder of `waiting` such processors and `computing` ones of COLD_COMPUTE_MS each. */
  mixedDir(waiting: number, computing: number): string;
  /** A file holding one `underwriting.created` with the small documents, for `run`. */
  eventFile: string;
  close(): void;
}

export function underwritingCreated(id: string, documents: readonly string[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      event: 'underwriting.created',
      data: { underwriting_id: id, documents, organization_id: 'org_bench' },
    }),
  );
}

function document(id: string, contentChars: number) {
  return {
    document_id: id,
    document_type: 'bank_statement',
    metadata: {
      bank_name: 'First Harbor Bank',
      account_number: '123456789',
      statement_month: '2024-01',
      beginning_balance: 18250.4,
      total_deposits: 48200.0,
      total_withdrawals: 45110.25,
      ending_balance: 21340.15,
      nsf_count: 0,
    },
    // Base64 of random bytes: text that no layer can shrink by sharing or compressing it.
    content: randomBytes(Math.ceil((contentChars * 3) / 4))
      .toString('base64')
      .slice(0, contentChars),
    processing_status: 'processed',
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

function waitingSource(id: string, workloadUrl: string): string {
  return `import { waitingProcessor } from '${workloadUrl}';
export default waitingProcessor('${id}', 1_000);
`;
}

function computingSource(id: string, workloadUrl: string): string {
  return `import { performance } from 'node:perf_hooks';
import { compute } from '${workloadUrl}';
export default {
  id: '${id}',
  version: '1.0.0',
  execute() {
    const started_at = performance.timeOrigin + performance.now();
    const x = compute(${COLD_COMPUTE_MS});
    return { factors: { started_at, ended_at: performance.timeOrigin + performance.now(), x } };
  },
};
`;
}

/** Writes the documents and the first-event processors into a fresh temporary folder. */
export function createWorkload(): Workload {
  const root = mkdtempSync(join(tmpdir(), 'po-bench-capacity-'));
  const documentsDir = join(root, 'documents');
  mkdirSync(documentsDir);
  for (const id of SMALL_DOCUMENTS)
    writeFileSync(join(documentsDir, `${id}.json`), JSON.stringify(document(id, SMALL_CONTENT_CHARS)));
  for (const id of LARGE_DOCUMENTS)
    writeFileSync(join(documentsDir, `${id}.json`), JSON.stringify(document(id, LARGE_CONTENT_CHARS)));
  const processorsDir = fixturePaths().capacityDir;
  const workloadUrl = pathToFileURL(join(processorsDir, '_workload.js')).href;
  const eventFile = join(root, 'event.json');
  writeFileSync(eventFile, underwritingCreated('uw_cap_run', SMALL_DOCUMENTS));

  const made = new Map<string, string>();
  const folder = (name: string, files: Record<string, string>) => {
    let dir = made.get(name);
    if (dir === undefined) {
      dir = join(root, name);
      mkdirSync(dir);
      for (const [file, source] of Object.entries(files)) writeFileSync(join(dir, file), source);
      made.set(name, dir);
    }
    return dir;
  };
  const waiting = (count: number) =>
    Object.fromEntries(
      Array.from({ length: count }, (_, i) => [
        `cold_wait_${pad(i + 1)}.js`,
        waitingSource(`cold_wait_${pad(i + 1)}`, workloadUrl),
      ]),
    );
  return {
    processorsDir,
    documentsDir,
    env: { BENCH_CAPACITY_ITERATIONS_PER_MS: String(calibrate(1)) },
    waitingDir: (count) => folder(`waiting-${count}`, waiting(count)),
    mixedDir: (w, c) =>
      folder(`mixed-${w}-${c}`, {
        ...waiting(w),
        ...Object.fromEntries(
          Array.from({ length: c }, (_, i) => [
            `cold_compute_${pad(i + 1)}.js`,
            computingSource(`cold_compute_${pad(i + 1)}`, workloadUrl),
          ]),
        ),
      }),
    eventFile,
    close: () => rmSync(root, { recursive: true, force: true }),
  };
}
