import { describe, expect, it } from 'vitest';

import { truncateUtf8 } from '../../src/transport/dead-letter.js';

describe('error_reason attribute', () => {
  it('is kept whole when it fits in 1024 bytes', () => {
    expect(truncateUtf8('not JSON: oops', 1024)).toBe('not JSON: oops');
  });

  it('is cut on a character boundary to fit, and says so', () => {
    const reason = `invalid: ${'é'.repeat(600)}`;
    const cut = truncateUtf8(reason, 1024);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(1024);
    expect(cut.endsWith('é...')).toBe(true);
    expect(cut).not.toContain('\uFFFD');
  });
});
