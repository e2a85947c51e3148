import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  CONTRACT_VERSION,
  RetryableError,
  defineProcessor,
  type ConcurrencyPolicy,
  type Document,
  type Factors,
  type ProcessorDefinition,
  type RetryPolicy,
} from '@processor-orchestrator/sdk';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';

import type { DocumentSchema } from '../../src/events/document.js';
import type { FactorsSchema } from '../../src/events/processing-completed.js';
import {
  ProcessorDefinitionSchema,
  SUPPORTED_CONTRACT_VERSION,
  contractCompatible,
  type ConcurrencyPolicySchema,
  type RetryPolicySchema,
} from '../../src/processors/contract.js';
import { repoRoot } from '../helpers/fixtures.js';

const sdkPackage = JSON.parse(readFileSync(join(repoRoot, 'packages', 'sdk', 'package.json'), 'utf8')) as {
  version: string;
};

describe('the plugin contract version', () => {
  it.each([
    [undefined, '1.0.0', true, 'a processor that does not say'],
    ['1.0.0', '1.0.0', true, 'the same version'],
    ['1.4.0', '1.0.0', true, 'a newer minor'],
    ['1.0.3', '1.2.0', true, 'an older minor'],
    ['1.1.0-rc.1', '1.0.0', true, 'a pre-release of a newer minor'],
    ['2.0.0', '1.0.0', false, 'a newer major'],
    ['0.9.0', '1.0.0', false, 'an older major'],
    ['1.0.0', '2.3.1', false, 'an older major, against a later service'],
  ])('contract %j against a service implementing %s: %s (%s)', (declared, supported, runs, _case) => {
    expect(contractCompatible(declared, supported)).toBe(runs);
  });

  it('is a semantic version a definition may state; anything else is refused', () => {
    const base = { id: 'x_v1', version: '1', execute: () => ({ factors: {} }) };
    expect(ProcessorDefinitionSchema.safeParse({ ...base, contractVersion: '1.2.3' }).success).toBe(true);
    for (const bad of ['1', '1.0', 'v1.0.0', '01.0.0', 1]) {
      expect(ProcessorDefinitionSchema.safeParse({ ...base, contractVersion: bad }).success).toBe(false);
    }
  });

  it('is the SDK package version in its major and minor: the package says which contract it ships', () => {
    expect(SUPPORTED_CONTRACT_VERSION).toBe(CONTRACT_VERSION);
    const [major, minor] = CONTRACT_VERSION.split('.');
    expect(sdkPackage.version.split('.').slice(0, 2)).toEqual([major, minor]);
  });
});

describe('defineProcessor', () => {
  const execute = () => ({ factors: {} });

  it('stamps the contract version as plain data on a new object, and leaves the definition as it was', () => {
    const given = Object.freeze({ id: 'stamped_v1', version: '1.0.0', execute });
    const defined = defineProcessor(given);
    expect(defined).toEqual({ ...given, contractVersion: CONTRACT_VERSION });
    expect(defined).not.toBe(given);
    expect(Object.keys(given)).not.toContain('contractVersion');
    expect(JSON.parse(JSON.stringify(defined))).toEqual({
      id: 'stamped_v1',
      version: '1.0.0',
      contractVersion: CONTRACT_VERSION,
    });
    expect(ProcessorDefinitionSchema.parse(defined).contractVersion).toBe(CONTRACT_VERSION);
  });

  it('records the module that declared it under a registry symbol, which any copy of the kit finds', () => {
    const defined = defineProcessor({ id: 'where_v1', version: '1.0.0', execute });
    const file = (defined as Record<symbol, unknown>)[Symbol.for('processor-orchestrator.definedIn')];
    expect(file).toMatch(/tests\/unit\/contract\.test\.ts$/);
  });
});

describe('RetryableError', () => {
  it('is recognised by its brand, so an instance made by another copy of the SDK is one too', () => {
    const own = new RetryableError('busy', { retryAfterMs: 50 });
    expect(own).toMatchObject({ retryable: true, retryAfterMs: 50, name: 'RetryableError', message: 'busy' });
    expect(own).toBeInstanceOf(RetryableError);
    expect(own).toBeInstanceOf(Error);
    // What another copy's constructor makes: its own class, the same registry brand.
    class OtherCopy extends Error {
      readonly retryable = true;
      constructor() {
        super('other');
        Object.defineProperty(this, Symbol.for('processor-orchestrator.RetryableError'), { value: true });
      }
    }
    expect(new OtherCopy()).toBeInstanceOf(RetryableError);
    expect(Object.assign(new Error('plain'), { retryable: true })).not.toBeInstanceOf(RetryableError);
    expect(null).not.toBeInstanceOf(RetryableError);
  });

  it('keeps instanceof of a subclass to its own instances', () => {
    class RateLimited extends RetryableError {}
    expect(new RateLimited('slow')).toBeInstanceOf(RateLimited);
    expect(new RateLimited('slow')).toBeInstanceOf(RetryableError);
    expect(new RetryableError('busy')).not.toBeInstanceOf(RateLimited);
  });
});

describe('the SDK types and the service schemas', () => {
  it('describe the same values: what a processor compiles against is what discovery accepts', () => {
    expectTypeOf<Document>().toExtend<z.infer<typeof DocumentSchema>>();
    expectTypeOf<z.infer<typeof DocumentSchema>>().toExtend<Document>();
    expectTypeOf<Factors>().toExtend<z.infer<typeof FactorsSchema>>();
    expectTypeOf<z.infer<typeof FactorsSchema>>().toExtend<Factors>();
    expectTypeOf<ConcurrencyPolicy>().toExtend<z.input<typeof ConcurrencyPolicySchema>>();
    expectTypeOf<z.input<typeof ConcurrencyPolicySchema>>().toExtend<ConcurrencyPolicy>();
    expectTypeOf<RetryPolicy>().toExtend<z.input<typeof RetryPolicySchema>>();
    expectTypeOf<z.input<typeof RetryPolicySchema>>().toExtend<RetryPolicy>();
    // `circuit` is declared by the SDK; the service validates it from the operations-for-outages issue.
    type Definition = Omit<ProcessorDefinition, 'circuit'>;
    expectTypeOf<Definition>().toExtend<z.input<typeof ProcessorDefinitionSchema>>();
    expectTypeOf<z.input<typeof ProcessorDefinitionSchema>>().toExtend<Definition>();
    expect(Object.keys(ProcessorDefinitionSchema.shape).sort()).toEqual([
      'circuit',
      'concurrency',
      'contractVersion',
      'execute',
      'id',
      'retry',
      'timeoutMs',
      'version',
    ]);
  });
});
