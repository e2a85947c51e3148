import { resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { DEFAULTS, loadConfig } from '../../src/config.js';
import { OrchestratorError } from '../../src/errors.js';
import { builtProcessorsDir } from '../../src/paths.js';

function configError(env: Record<string, string>): OrchestratorError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof OrchestratorError) return err;
    throw err;
  }
  throw new Error('loadConfig accepted a bad environment');
}

describe('loadConfig', () => {
  it('applies the defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      processorsDir: builtProcessorsDir,
      documentsDir: undefined,
      purchasesFile: undefined,
      processorTimeoutMs: DEFAULTS.PROCESSOR_TIMEOUT_MS,
      processorMaxHeapMb: DEFAULTS.PROCESSOR_MAX_HEAP_MB,
      logLevel: 'info',
    });
    expect(config.processorThreads).toBeGreaterThanOrEqual(2);
  });

  it('treats an empty variable as unset and resolves paths', () => {
    const config = loadConfig({
      PROCESSOR_TIMEOUT_MS: '',
      DOCUMENTS_DIR: 'examples/documents',
      PROCESSORS_DIR: '',
    });
    expect(config.processorTimeoutMs).toBe(DEFAULTS.PROCESSOR_TIMEOUT_MS);
    expect(config.documentsDir).toBe(resolve('examples/documents'));
    expect(config.processorsDir).toBe(builtProcessorsDir);
  });

  it('reads numbers and levels', () => {
    const config = loadConfig({ PROCESSOR_TIMEOUT_MS: '1500', PROCESSOR_THREADS: '3', LOG_LEVEL: 'debug' });
    expect(config).toMatchObject({ processorTimeoutMs: 1500, processorThreads: 3, logLevel: 'debug' });
  });

  it.each([
    ['PROCESSOR_TIMEOUT_MS', 'abc', 'PROCESSOR_TIMEOUT_MS: must be a whole number from 1 to 3600000'],
    ['PROCESSOR_TIMEOUT_MS', '0', 'PROCESSOR_TIMEOUT_MS: '],
    ['PROCESSOR_TIMEOUT_MS', '1.5', 'PROCESSOR_TIMEOUT_MS: '],
    ['PROCESSOR_THREADS', '-1', 'PROCESSOR_THREADS: '],
    ['PROCESSOR_MAX_HEAP_MB', '8', 'PROCESSOR_MAX_HEAP_MB: '],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL: must be one of trace, debug, info, warn, error, fatal, silent'],
  ])('stops with one line naming %s when it is %j', (name, value, line) => {
    const err = configError({ [name]: value });
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message.startsWith(line)).toBe(true);
    expect(err.message).not.toContain('\n');
  });
});
