import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { beforeAll, describe, expect, it } from 'vitest';

import { ProcessingCompletedSchema } from '../../src/events/index.js';
import { cli, onlyFatal } from '../helpers/cli.js';
import { fixtureProcessorsDir, repoRoot } from '../helpers/fixtures.js';

const packageVersion = (
  JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
).version;

const ALL_CASES = [
  'fx_ok',
  'fx_throw',
  'fx_reject',
  'fx_exit',
  'fx_spin',
  'fx_heap',
  'fx_late_throw',
  'fx_stray_throw',
  'fx_not_cloneable',
  'fx_bad_result',
  'fx_slow',
  'fx_signal',
  'fx_require_esm',
  'not_installed_v1',
];

describe('processor-orchestrator CLI', () => {
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-'));
    await writeFile(
      join(dir, 'doc_1.json'),
      JSON.stringify({ document_id: 'doc_1', document_type: 'bank_statement', metadata: {} }),
    );
    const event = {
      event: 'underwriting.created',
      data: { underwriting_id: 'uw_all', documents: ['doc_1', 'doc_2'], purchased_processors: ALL_CASES },
    };
    await writeFile(join(dir, 'event.json'), JSON.stringify(event));
    await writeFile(join(dir, 'poison.json'), '{"event":"underwriting.created","data":{"documents":"no"}}');
    env = {
      PROCESSORS_DIR: fixtureProcessorsDir,
      DOCUMENTS_DIR: dir,
      PROCESSOR_THREADS: '2',
      PROCESSOR_MAX_HEAP_MB: '64',
      PROCESSOR_TIMEOUT_MS: '5000',
    };
  });

  it('run prints one correct grouped result for an event that hits every failure mode', async () => {
    const { code, stdout, stderr } = await cli(['run', join(dir, 'event.json')], env);
    expect(code, stderr).toBe(0);
    const result = ProcessingCompletedSchema.parse(JSON.parse(stdout));
    const ids = (list: { processor_id: string }[]) => list.map((p) => p.processor_id).sort();
    expect(result.overall_status).toBe('partial_success');
    expect(ids(result.completed_processors)).toEqual(['fx_late_throw', 'fx_ok', 'fx_slow']);
    expect(ids(result.failed_processors)).toEqual([
      'fx_bad_result',
      'fx_exit',
      'fx_heap',
      'fx_not_cloneable',
      'fx_reject',
      'fx_require_esm',
      'fx_stray_throw',
      'fx_throw',
      'not_installed_v1',
    ]);
    expect(ids(result.timeout_processors)).toEqual(['fx_signal', 'fx_spin']);
    expect(result.summary).toMatchObject({
      total_processors: 14,
      completed_count: 3,
      failed_count: 9,
      timeout_count: 2,
    });
    expect(result.completed_processors.find((p) => p.processor_id === 'fx_ok')?.factors).toMatchObject({
      documents: ['doc_1'],
      missing: ['doc_2'],
    });
    // Logs went to stderr as JSON lines: one per non-completed processor, one for the event.
    const logs = stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // The built pool's threads load no ES module with require(), which Node aborts on when a thread
    // is ended during it (see src/processors/pool.ts); from source, tsx's hooks would load it.
    expect(result.failed_processors.find((p) => p.processor_id === 'fx_require_esm')?.error_message).toMatch(
      /require\(\) of ES Module .*_helper\.mjs/,
    );
    expect(logs.filter((l) => l['message'] === 'processor failed')).toHaveLength(9);
    expect(logs.filter((l) => l['message'] === 'processor timed out')).toHaveLength(2);
    expect(logs.find((l) => l['message'] === 'underwriting processed')).toMatchObject({
      severity: 'INFO',
      underwriting_id: 'uw_all',
      completed_count: 3,
      transport: 'run',
      delivery_attempt: 1,
      serviceContext: { service: 'processor-orchestrator', version: packageVersion },
    });
    // Fourteen processors in a fresh process, each probed alone first; a busy machine slows them.
  }, 60_000);

  it('reports the Cloud Run revision as serviceContext.version when K_REVISION is set', async () => {
    const { code, stderr } = await cli(['run', join(dir, 'event.json'), '--processors', 'fx_ok,fx_throw'], {
      ...env,
      K_REVISION: 'orchestrator-00042-abc',
    });
    expect(code, stderr).toBe(0);
    const logs = stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.length).toBeGreaterThan(0);
    for (const line of logs) {
      expect(line['serviceContext']).toEqual({
        service: 'processor-orchestrator',
        version: 'orchestrator-00042-abc',
      });
    }
  });

  it('run refuses an invalid event with a clear message and exit 1', async () => {
    const { code, stdout, stderr } = await cli(['run', join(dir, 'poison.json')], env);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(onlyFatal(stderr)).toMatchObject({ severity: 'ERROR', code: 'EVENT_INVALID' });
    expect(onlyFatal(stderr).message).toMatch(
      /poison\.json: invalid underwriting\.created: data\.underwriting_id/,
    );
  });

  it('run refuses a file that does not exist', async () => {
    const { code, stderr } = await cli(['run', join(dir, 'nope.json')], env);
    expect(code).toBe(1);
    expect(onlyFatal(stderr).message).toContain('nope.json: cannot read');
  });

  it('stops with one line naming the variable on bad configuration, exit 2', async () => {
    const { code, stderr } = await cli(['run', join(dir, 'event.json')], {
      ...env,
      PROCESSOR_TIMEOUT_MS: 'soon',
    });
    expect(code).toBe(2);
    expect(onlyFatal(stderr)).toMatchObject({
      severity: 'ERROR',
      code: 'CONFIG_INVALID',
      message: 'PROCESSOR_TIMEOUT_MS: must be a whole number from 1 to 3600000',
    });
  });

  it('stops with one line when no document source is configured', async () => {
    const { code, stderr } = await cli(['run', join(dir, 'event.json')], {
      PROCESSORS_DIR: fixtureProcessorsDir,
    });
    expect(code).toBe(2);
    expect(onlyFatal(stderr).message).toMatch(
      /^DOCUMENTS_URL: not set; set it to the document service.*DOCUMENTS_DIR/,
    );
  });

  it('processors lists id, version, contract version, timeout and where each came from', async () => {
    const { code, stdout } = await cli(['processors'], env);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^id\s+version\s+contract\s+timeout\s+from$/);
    // Plain objects that do not say which contract they are built for.
    expect(lines).toContainEqual(
      expect.stringMatching(/^fx_spin\s+1\.0\.0\s+-\s+300 ms\s+tests\/fixtures\/processors\/fx_spin\.mjs$/),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^fx_ok\s+1\.0\.0\s+-\s+5000 ms \(default\)\s+/));
    expect(stdout).not.toContain('_helper');
    expect(stdout).not.toContain('example_ignored');
  });

  it('runs as the npm bin: the built file is executable through its shebang, as npx runs it', async () => {
    const { stdout } = await promisify(execFile)(join(repoRoot, 'dist', 'src', 'cli.js'), ['--help']);
    expect(stdout).toMatch(/^Usage: processor-orchestrator <command>/);
  });

  it('answers an unknown command with usage, exit 2', async () => {
    const { code, stderr } = await cli(['launch'], env);
    expect(code).toBe(2);
    expect(onlyFatal(stderr)).toMatchObject({
      code: 'USAGE',
      message: 'unknown command "launch" (see --help)',
    });
  });
  it('serve stops with one line naming the variable and exit 2 on a bad configuration', async () => {
    const { code, stdout, stderr } = await cli(['serve'], {
      PORT: 'eighty',
      DOCUMENTS_DIR: 'examples/documents',
    });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(onlyFatal(stderr)).toMatchObject({
      code: 'CONFIG_INVALID',
      message: 'PORT: must be a whole number from 0 to 65535',
    });
  });

  it('serve takes no arguments', async () => {
    const { code, stderr } = await cli(['serve', 'extra']);
    expect(code).toBe(2);
    expect(onlyFatal(stderr)).toMatchObject({
      code: 'USAGE',
      message: 'serve takes no arguments (see serve --help)',
    });
  });
});
