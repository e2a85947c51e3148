import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

import { OrchestratorError } from '../errors.js';
import { IGNORED_NAMES } from '../processors/discovery.js';
import { commandArgs } from './args.js';

// A processor id (what purchases and results name), starting with a letter.
const NAME = /^[a-z][a-z0-9_]{2,63}$/;

const processorModule = (name: string) => `import { defineProcessor } from 'processor-orchestrator/sdk';

/**
 * ${name}: what it computes, from which documents, and what each factor means.
 *
 * The contract (see processors/README.md): return { factors } (JSON values) to COMPLETE; a throw
 * is FAILED with its message; still running at timeoutMs is TIMEOUT. Pass ctx.signal to every
 * call that can wait (fetch, timers), so that the deadline can stop it.
 */
export default defineProcessor({
  id: '${name}',
  version: '0.1.0',
  timeoutMs: 30_000,
  execute(ctx) {
    const statements = ctx.documents.filter((d) => d.document_type === 'bank_statement');
    ctx.log.debug({ documents: ctx.documents.length }, '${name} read its documents');
    return {
      factors: {
        document_count: ctx.documents.length,
        bank_statement_count: statements.length,
        missing_document_count: ctx.missingDocuments.length,
      },
    };
  },
});
`;

const processorTest = (name: string) => `import { describe, expect, it } from 'vitest';

import { runProcessor } from 'processor-orchestrator/testing';

import processor from './index.js';

describe('${name}', () => {
  it('counts the documents it is given, in a real worker thread under its deadline', async () => {
    const result = await runProcessor(processor, {
      documents: [{ document_id: 'doc_1', document_type: 'bank_statement', metadata: {} }],
      missingDocuments: ['doc_2'],
    });
    expect(result).toMatchObject({
      status: 'completed',
      processor_id: '${name}',
      factors: { document_count: 1, bank_statement_count: 1, missing_document_count: 1 },
    });
  });
});
`;

/**
 * `new-processor NAME`: creates `processors/NAME/index.ts` and `index.test.ts` under the current
 * folder: a processor that builds, passes its test and is discovered as it is. Refuses a name
 * that is not a processor id, one that discovery would ignore (`example*`, `_*`), and a processor
 * that exists.
 */
export async function newProcessorCommand(args: string[]): Promise<number> {
  const [name = ''] = commandArgs('new-processor', args, {
    options: {},
    positionals: { min: 1, max: 1, what: 'one NAME' },
  }).positionals;
  if (IGNORED_NAMES.test(name)) {
    throw new OrchestratorError(
      'USAGE',
      `new-processor: "${name}" would never be discovered: names starting with "example" or "_" are ignored; choose another`,
    );
  }
  if (!NAME.test(name)) {
    throw new OrchestratorError(
      'USAGE',
      `new-processor: "${name}" is not a processor id: 3 to 64 lower-case letters, digits or underscores, starting with a letter (e.g. cash_flow_v1)`,
    );
  }
  const dir = join(process.cwd(), 'processors', name);
  if (existsSync(dir))
    throw new OrchestratorError('USAGE', `new-processor: ${relative(process.cwd(), dir)} exists already`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'index.ts'), processorModule(name));
  await writeFile(join(dir, 'index.test.ts'), processorTest(name));
  const where = relative(process.cwd(), dir);
  process.stdout.write(
    [
      `Created ${where}/index.ts and ${where}/index.test.ts.`,
      'Next:',
      `  npx vitest run ${where}    # its test, through a real worker thread`,
      '  npm test && npx processor-orchestrator processors    # built, and listed',
      'The authoring guide: processors/README.md',
      '',
    ].join('\n'),
  );
  return 0;
}
