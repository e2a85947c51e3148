import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { pino, type Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { Document, ProcessorContext } from '@processor-orchestrator/sdk';
import { runProcessor } from '@processor-orchestrator/testing';

import clearReport from './index.js';

const documents: Document[] = [
  {
    document_id: 'art',
    document_type: 'articles_of_incorporation',
    metadata: { business_name: 'Acme Logistics Incorporated', state: 'DE' },
  },
  {
    document_id: 'cgs',
    document_type: 'certificate_of_good_standing',
    metadata: { business_name: ' Acme Logistics, Inc. ', state: 'de' },
  },
  { document_id: 'dl', document_type: 'drivers_license', metadata: { state: 'CA' } },
];

function context(overrides: Partial<ProcessorContext> = {}): ProcessorContext {
  return {
    underwritingId: 'uw_test',
    executionId: '01J0000000000000000000000A',
    documents,
    missingDocuments: [],
    signal: new AbortController().signal,
    log: pino({ level: 'silent' }),
    ...overrides,
  };
}

const report = {
  risk_score: 42.5,
  liens: 2,
  judgments: 1,
  bankruptcies: 0,
  ucc_filings: 3,
  report_id: 'r-1',
};

interface Received {
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
}

let server: Server;
let baseUrl: string;
let received: Received[];
let respond: (req: IncomingMessage, res: ServerResponse) => void;

beforeEach(async () => {
  received = [];
  respond = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(report));
  };
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    received.push({ path: url.pathname, query: url.searchParams, authorization: req.headers.authorization });
    respond(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  vi.stubEnv('CLEAR_REPORT_URL', baseUrl);
  vi.stubEnv('CLEAR_REPORT_API_KEY', undefined);
  vi.stubEnv('CLEAR_REPORT_TIMEOUT_MS', undefined);
});

afterEach(async () => {
  vi.unstubAllEnvs();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const hang = () => {};

describe('clear_business_report_v1', () => {
  it('turns the report into factors', async () => {
    const { factors } = await clearReport.execute(context());
    expect(factors).toEqual({
      clear_risk_score: 42.5,
      lien_count: 2,
      judgment_count: 1,
      bankruptcy_count: 0,
      bankruptcy_flag: false,
      ucc_filing_count: 3,
      clear_report_id: 'r-1',
      report_business_name: 'Acme Logistics, Inc.',
      report_state: 'DE',
    });
  });

  it('flags bankruptcies and reports absent optional fields as null', async () => {
    respond = (_req, res) => {
      res.end(JSON.stringify({ risk_score: 90, liens: 0, judgments: 0, bankruptcies: 1, extra: 'ignored' }));
    };
    const { factors } = await clearReport.execute(context());
    expect(factors.bankruptcy_flag).toBe(true);
    expect(factors.ucc_filing_count).toBeNull();
    expect(factors.clear_report_id).toBeNull();
  });

  it('asks for the business named by the most authoritative document, with the API key', async () => {
    vi.stubEnv('CLEAR_REPORT_API_KEY', 'key-123');
    await clearReport.execute(context());
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request?.path).toBe('/v1/business-reports');
    expect(request?.query.get('name')).toBe('Acme Logistics, Inc.');
    expect(request?.query.get('state')).toBe('DE');
    expect(request?.authorization).toBe('Bearer key-123');
  });

  it('sends no Authorization header without an API key', async () => {
    await clearReport.execute(context());
    expect(received[0]?.authorization).toBeUndefined();
  });

  it('keeps the path of the base URL', async () => {
    vi.stubEnv('CLEAR_REPORT_URL', `${baseUrl}/clear/`);
    await clearReport.execute(context());
    expect(received[0]?.path).toBe('/clear/v1/business-reports');
  });

  it('never logs the API key', async () => {
    vi.stubEnv('CLEAR_REPORT_API_KEY', 'key-never-logged');
    const lines: string[] = [];
    const log: Logger = pino({ level: 'trace' }, { write: (line: string) => lines.push(line) });
    await clearReport.execute(context({ log }));
    expect(lines.join('')).toContain('business report received');
    expect(lines.join('')).not.toContain('key-never-logged');
  });

  it('fails with the status when the API answers other than 2xx', async () => {
    respond = (_req, res) => {
      res.writeHead(503).end('unavailable');
    };
    await expect(clearReport.execute(context())).rejects.toThrow('report API answered 503');
    await expect(clearReport.execute(context())).rejects.toMatchObject({ retryable: true });
  });

  it('fails when the body is not a valid report', async () => {
    respond = (_req, res) => {
      res.end(JSON.stringify({ risk_score: 'high', liens: 1, judgments: 0, bankruptcies: 0 }));
    };
    await expect(clearReport.execute(context())).rejects.toThrow(
      /^report API answered with an invalid report \(risk_score: .*\)$/,
    );
  });

  it('fails when the body is not JSON', async () => {
    respond = (_req, res) => {
      res.end('<html>oops</html>');
    };
    await expect(clearReport.execute(context())).rejects.toThrow(
      'report API answered 200 with a body that is not JSON',
    );
  });

  it('gives up when the API does not answer within CLEAR_REPORT_TIMEOUT_MS', async () => {
    vi.stubEnv('CLEAR_REPORT_TIMEOUT_MS', '150');
    respond = hang;
    const started = performance.now();
    await expect(clearReport.execute(context())).rejects.toThrow('report API did not answer within 150 ms');
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('rethrows the abort when the processor reaches its deadline', async () => {
    respond = hang;
    const deadline = new AbortController();
    const reason = new DOMException('the processor reached its deadline', 'TimeoutError');
    setTimeout(() => deadline.abort(reason), 50);
    await expect(clearReport.execute(context({ signal: deadline.signal }))).rejects.toBe(reason);
    expect(received).toHaveLength(1);
  });

  it('fails when the API cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    vi.stubEnv('CLEAR_REPORT_URL', `http://127.0.0.1:${port}`);
    await expect(clearReport.execute(context())).rejects.toThrow(/^report API could not be reached: /);
  });

  it('fails without asking when CLEAR_REPORT_URL is not set', async () => {
    vi.stubEnv('CLEAR_REPORT_URL', undefined);
    await expect(clearReport.execute(context())).rejects.toThrow(/^CLEAR_REPORT_URL is not configured$/);
    expect(received).toHaveLength(0);
  });

  it('refuses a CLEAR_REPORT_URL that is not an http(s) URL', async () => {
    vi.stubEnv('CLEAR_REPORT_URL', 'reports.example.com');
    await expect(clearReport.execute(context())).rejects.toThrow(
      'CLEAR_REPORT_URL is not a URL: "reports.example.com"',
    );
    vi.stubEnv('CLEAR_REPORT_URL', 'ftp://reports.example.com');
    await expect(clearReport.execute(context())).rejects.toThrow(
      'CLEAR_REPORT_URL must be an http(s) URL, got ftp:',
    );
  });

  it.each(['10s', '0', '-5', '1.5'])('refuses CLEAR_REPORT_TIMEOUT_MS=%s', async (value) => {
    vi.stubEnv('CLEAR_REPORT_TIMEOUT_MS', value);
    await expect(clearReport.execute(context())).rejects.toThrow(
      `CLEAR_REPORT_TIMEOUT_MS must be milliseconds from 1 to 3600000, got "${value}"`,
    );
    expect(received).toHaveLength(0);
  });

  it('fails without asking when there is no business document', async () => {
    const license = documents.filter((d) => d.document_type === 'drivers_license');
    await expect(clearReport.execute(context({ documents: license }))).rejects.toThrow(
      /^no business document \(certificate_of_good_standing, .*\) among the 1 documents$/,
    );
    expect(received).toHaveLength(0);
  });

  it('fails when no business document states the business name', async () => {
    const nameless: Document[] = [
      { document_id: 'cgs', document_type: 'certificate_of_good_standing', metadata: { state: 'DE' } },
    ];
    await expect(clearReport.execute(context({ documents: nameless }))).rejects.toThrow(
      'no business document states a business_name',
    );
  });
});

describe('clear_business_report_v1 through the test kit (a real worker thread)', () => {
  it('completes with the report as factors', async () => {
    const result = await runProcessor(clearReport, { documents });
    expect(result).toMatchObject({ status: 'completed', factors: { clear_risk_score: 42.5, lien_count: 2 } });
  });

  it('stops its HTTP call when ctx.signal aborts at the deadline: TIMEOUT in the signal phase', async () => {
    respond = hang;
    const result = await runProcessor(clearReport, { documents, timeoutMs: 300 });
    expect(result).toMatchObject({ status: 'timeout', timeout_ms: 300, timeout_phase: 'signal' });
    // Settled at the deadline, well before the 1 s grace would have ended its thread.
    expect(result.execution_time).toBeLessThan(0.8);
  });

  it('tries again after a 429 or a 5xx, honouring Retry-After, and completes', async () => {
    const statuses = [429, 503];
    respond = (_req, res) => {
      const status = statuses.shift();
      if (status) res.writeHead(status, { 'retry-after': '0' }).end('busy');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(report));
    };
    const result = await runProcessor(clearReport, { documents });
    expect(result).toMatchObject({ status: 'completed', attempts: 3, factors: { clear_risk_score: 42.5 } });
    expect(received).toHaveLength(3);
  });

  it('stops after 3 attempts when the API keeps failing, and never retries a 404', async () => {
    respond = (_req, res) => {
      res.writeHead(503, { 'retry-after': '0' }).end('down');
    };
    expect(await runProcessor(clearReport, { documents })).toMatchObject({
      status: 'failed',
      attempts: 3,
      error_message: 'RetryableError: report API answered 503',
    });
    received = [];
    respond = (_req, res) => {
      res.writeHead(404).end('no such business');
    };
    expect(await runProcessor(clearReport, { documents })).toMatchObject({ status: 'failed', attempts: 1 });
    expect(received).toHaveLength(1);
  });

  it('fails with a message when the API is not configured', async () => {
    vi.stubEnv('CLEAR_REPORT_URL', undefined);
    expect(await runProcessor(clearReport, { documents })).toMatchObject({
      status: 'failed',
      error_message: 'CLEAR_REPORT_URL is not configured',
    });
  });
});
