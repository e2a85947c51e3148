import { describe, expect, it } from 'vitest';

import { OrchestratorError } from '../../src/errors.js';
import { describeFatal, formatFatal } from '../../src/fatal.js';
import { packageVersion } from '../../src/version.js';

/** A gRPC error as @google-cloud/pubsub rejects with: a numeric `code`, a message repeating its cause. */
function grpcError(): Error {
  const err = new Error(
    Array.from(
      { length: 24 },
      () => '14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED',
    ).join(' '),
  );
  return Object.assign(err, { code: 14, details: 'No connection established' });
}

describe('the fatal line', () => {
  it.each([
    ['a gRPC error with a numeric code', grpcError()],
    ['an object with a numeric code', { code: 5 }],
    ['undefined', undefined],
    ['null', null],
    ['a string', 'boom'],
    ['a number', 42],
    ['an error with a symbol code', Object.assign(new Error('odd'), { code: Symbol('x') })],
  ])('describes %s without throwing, in one line of at most 320 characters', (_what, thrown) => {
    const fatal = describeFatal(thrown);
    expect(fatal).toMatchObject({ code: 'UNEXPECTED', exitCode: 1 });
    expect(fatal.message).toMatch(/^unexpected error: /);
    expect(fatal.message).not.toContain('\n');
    expect(fatal.message.length).toBeLessThanOrEqual(320);
    expect(() => formatFatal(fatal, false)).not.toThrow();
  });

  it('exits 2 for what a user fixes in the command line or the environment, 1 otherwise', () => {
    expect(describeFatal(new OrchestratorError('CONFIG_INVALID', 'PORT: bad'))).toEqual({
      code: 'CONFIG_INVALID',
      message: 'PORT: bad',
      exitCode: 2,
    });
    expect(describeFatal(new OrchestratorError('PROCESSORS_DIR_UNREADABLE', 'x')).exitCode).toBe(2);
    expect(describeFatal(new OrchestratorError('PURCHASES_INVALID', 'x')).exitCode).toBe(2);
    expect(describeFatal(new OrchestratorError('EVENT_INVALID', 'x')).exitCode).toBe(1);
    const parseArgsError = Object.assign(new TypeError("Unknown option '--nope'"), {
      code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION',
    });
    expect(describeFatal(parseArgsError)).toEqual({
      code: 'USAGE',
      message: "TypeError: Unknown option '--nope' (see --help)",
      exitCode: 2,
    });
  });

  it('names PORT when the port is taken', () => {
    const err = Object.assign(new Error('listen EADDRINUSE: address already in use 0.0.0.0:8080'), {
      code: 'EADDRINUSE',
    });
    expect(describeFatal(err)).toMatchObject({ code: 'PORT_IN_USE', exitCode: 1 });
    expect(describeFatal(err).message).toMatch(/^PORT: /);
  });

  it('cuts a long message short, but never the hint at its end that says what to do', () => {
    const hint =
      'install it with: sudo apt-get install google-cloud-cli-firestore-emulator (or: deploy/install-emulator.sh)';
    const looked = `looked for ${'/home/someone/sdk'.repeat(30)}/cloud_firestore_emulator`;
    const err = new OrchestratorError(
      'EMULATOR_UNAVAILABLE',
      `the Firestore emulator is not installed (${looked}); ${hint}`,
      {
        hint,
      },
    );
    const { message } = describeFatal(err);
    expect(message).toMatch(/^the Firestore emulator is not installed \(looked for \/home\/someone/);
    expect(message.endsWith(`…; ${hint}`)).toBe(true);
    // A hint the message does not end with is added after it, whole.
    const short = describeFatal(new OrchestratorError('EMULATOR_UNAVAILABLE', 'x'.repeat(400), { hint }));
    expect(short.message).toBe(`${'x'.repeat(300)}…; ${hint}`);
    // Only the cut part is limited: the hint comes on top.
    expect(describeFatal(new OrchestratorError('USAGE', 'y'.repeat(400))).message).toBe(
      `${'y'.repeat(300)}…`,
    );
  });

  it('is plain text on a terminal, with the stack only for an unexpected error', () => {
    expect(formatFatal(describeFatal(new OrchestratorError('USAGE', 'bad')), true)).toBe(
      'processor-orchestrator: bad\n',
    );
    const text = formatFatal(describeFatal(new TypeError('bug')), true);
    expect(text).toMatch(/^processor-orchestrator: unexpected error: TypeError: bug\nTypeError: bug\n\s+at /);
  });

  it('is one JSON log entry elsewhere, with severity, message, code and the stack of a bug', () => {
    const line = formatFatal(describeFatal(new OrchestratorError('CONFIG_INVALID', 'PORT: bad')), false);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.trimEnd()).not.toContain('\n');
    expect(JSON.parse(line)).toMatchObject({
      severity: 'ERROR',
      message: 'PORT: bad',
      code: 'CONFIG_INVALID',
      exit_code: 2,
      serviceContext: { service: 'processor-orchestrator', version: packageVersion() },
    });
    const bug = JSON.parse(formatFatal(describeFatal(new TypeError('bug')), false)) as Record<
      string,
      unknown
    >;
    expect(bug['stack_trace']).toMatch(/^TypeError: bug\n\s+at /);
  });
});
