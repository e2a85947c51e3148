import { describe, expect, it } from 'vitest';

import { withoutNestedSecrets } from '../../src/logging.js';
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

  it("never write secrets one level down, in a child's bindings, set bindings or a frozen object, and leave the caller's objects as they were", () => {
    const { lines, log } = capture();
    const config = Object.freeze({ url: 'https://vendor', token: 't0k' });
    const bindings = { vendor: { name: 'acme', api_key: 'k3y' } };
    const run = log.child(bindings).child({ run: 'r1' });
    run.info({ config }, 'call');
    run.setBindings({ retry: { attempt: 2, password: 'pw' } });
    run.info('again');
    expect(lines[0]).toMatchObject({
      vendor: { name: 'acme', api_key: '[redacted]' },
      config: { url: 'https://vendor', token: '[redacted]' },
      run: 'r1',
    });
    expect(lines[1]).toMatchObject({ retry: { attempt: 2, password: '[redacted]' } });
    expect(bindings.vendor.api_key).toBe('k3y');
    expect(config.token).toBe('t0k');
  });

  it('keep an error that holds a secret an error: its stack_trace is written, its secret is not', () => {
    const { lines, log } = capture();
    const err = Object.assign(new Error('refused'), { password: 'pw' });
    log.error({ err }, 'failed');
    expect(lines[0]?.['stack_trace']).toMatch(/^Error: refused\n\s+at /);
    expect(lines[0]?.['err']).toMatchObject({ message: 'refused', password: '[redacted]' });
    expect(err.password).toBe('pw');
  });

  it('copy nothing when nothing is secret', () => {
    const object = { underwriting_id: 'uw_1', outcome: { status: 'COMPLETED' } };
    expect(withoutNestedSecrets(object)).toBe(object);
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
