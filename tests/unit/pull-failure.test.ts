import { describe, expect, it } from 'vitest';

import { afterPullFailure } from '../../src/transport/pull-failure.js';

const grpcError = (code: number, details: string) =>
  Object.assign(new Error(`${code} ${details.toUpperCase()}: ${details}`), { code, details });

describe('a failed pull', () => {
  it.each([
    [
      'a deleted subscription is fatal, in gRPC’s own words',
      grpcError(5, 'Resource not found'),
      0,
      { fatal: 'Resource not found' },
    ],
    [
      'a subscription it may not pull from is fatal',
      grpcError(7, 'User not authorized'),
      3,
      { fatal: 'User not authorized' },
    ],
    [
      'fatal without details: the error’s message',
      Object.assign(new Error('5 NOT_FOUND'), { code: 5 }),
      0,
      { fatal: '5 NOT_FOUND' },
    ],
    [
      'anything else is retried after the first back-off',
      grpcError(14, 'unavailable'),
      0,
      { retryInMs: 100 },
    ],
    [
      'the back-off doubles with each failure in a row',
      grpcError(4, 'deadline exceeded'),
      3,
      { retryInMs: 800 },
    ],
    ['the back-off stops at its ceiling', new Error('socket hang up'), 10, { retryInMs: 10_000 }],
  ])('%s', (_name, err, failures, expected) => {
    expect(afterPullFailure(err, failures)).toEqual(expected);
  });
});
