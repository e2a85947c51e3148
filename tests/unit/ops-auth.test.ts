import { describe, expect, it } from 'vitest';

import { roleOf } from '../../src/ops/auth.js';

describe('ops roles', () => {
  const lists = {
    readers: ['reader@example.com', '*@audit.example.com'],
    operators: ['*@ops.example.com', 'boss@example.com'],
  };

  it.each([
    ['boss@example.com', 'operator'],
    ['Alice@Ops.Example.com', 'operator'],
    ['reader@example.com', 'reader'],
    ['anyone@audit.example.com', 'reader'],
    ['mallory@example.com', undefined],
    // A domain matches whole: not a suffix of another domain, not a subdomain.
    ['eve@evilops.example.com', undefined],
    ['eve@x.audit.example.com', undefined],
  ])('gives %s the role %s', (email, role) => {
    expect(roleOf(email, lists)).toBe(role);
  });
});
