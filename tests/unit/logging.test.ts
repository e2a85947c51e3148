import { describe, expect, it } from 'vitest';

import { packageVersion, serviceVersion } from '../../src/version.js';
import { capturingLog } from '../helpers/fixtures.js';

const capture = capturingLog;

describe('logs', () => {
  it("are in Google Cloud Logging's structured shape", () => {
    const { lines, log } = capture();
    log.child({ underwriting_id: 'uw_1' }).warn({ processor_id: 'a_v1' }, 'processor failed');
    expect(lines[0]).toMatchObject({
      severity: 'WARNING',
      message: 'processor failed',
      underwriting_id: 'uw_1',
      processor_id: 'a_v1',
      serviceContext: { service: 'processor-orchestrator' },
    });
    expect(new Date(lines[0]?.['timestamp'] as string).toISOString()).toBe(lines[0]?.['timestamp']);
    expect(lines[0]).not.toHaveProperty('level');
  });

  it('carry a stack_trace for errors, so Error Reporting groups them', () => {
    const { lines, log } = capture();
    log.error({ err: new Error('boom') }, 'failed');
    expect(lines[0]?.['severity']).toBe('ERROR');
    expect(lines[0]?.['stack_trace']).toMatch(/^Error: boom\n\s+at /);
  });

  it('never write secrets', () => {
    const { lines, log } = capture();
    log.info(
      {
        headers: { authorization: 'Bearer abc.def' },
        token: 't0k',
        request: { apiKey: 'k3y', password: 'pw' },
      },
      'call',
    );
    const text = JSON.stringify(lines[0]);
    for (const secret of ['abc.def', 't0k', 'k3y', '"pw"']) expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
  });

  it.each([
    ['debug', 'DEBUG'],
    ['info', 'INFO'],
    ['fatal', 'CRITICAL'],
  ] as const)('map pino %s to severity %s', (level, severity) => {
    const { lines, log } = capture();
    log[level]('x');
    expect(lines[0]?.['severity']).toBe(severity);
  });
});

describe('serviceContext.version', () => {
  it('is the Cloud Run revision when K_REVISION is set, else the package version', () => {
    expect(serviceVersion({ K_REVISION: 'orchestrator-00007-xyz' })).toBe('orchestrator-00007-xyz');
    expect(serviceVersion({})).toBe(packageVersion());
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
