// What `new-processor` writes: a processor, its test through the kit, and, for `--package`, the
// files of a standalone processor package. The processor and its test are the same in both.

/** The versions a scaffolded package depends on: what this service is built and tested with. */
export interface ScaffoldVersions {
  sdk: string;
  testing: string;
  typescript: string;
  vitest: string;
  tsx: string;
  typesNode: string;
  node: string;
}

export const processorModule = (
  name: string,
) => `import { defineProcessor } from '@processor-orchestrator/sdk';

/**
 * ${name}: what it computes, from which documents, and what each factor means.
 *
 * The contract (see the authoring guide): return { factors } (JSON values) to COMPLETE; a throw
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

export const processorTest = (
  name: string,
  moduleSpecifier: string,
) => `import { describe, expect, it } from 'vitest';

import { runProcessor } from '@processor-orchestrator/testing';

import processor from '${moduleSpecifier}';

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

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** The files of a standalone processor package, path → content. */
export function packageFiles(packageName: string, name: string, v: ScaffoldVersions): Record<string, string> {
  return {
    'package.json': json({
      name: packageName,
      version: '0.1.0',
      description: `The ${name} processor for processor-orchestrator`,
      type: 'module',
      exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
      files: ['dist'],
      engines: { node: v.node },
      scripts: {
        build: 'tsc -p tsconfig.build.json',
        typecheck: 'tsc -p tsconfig.json',
        test: 'vitest run',
        prepack: 'npm run build',
      },
      peerDependencies: { '@processor-orchestrator/sdk': v.sdk },
      devDependencies: {
        '@processor-orchestrator/sdk': v.sdk,
        '@processor-orchestrator/testing': v.testing,
        '@types/node': v.typesNode,
        tsx: v.tsx,
        typescript: v.typescript,
        vitest: v.vitest,
      },
      // esbuild (under tsx) checks its platform binary when installed.
      allowScripts: { esbuild: true },
    }),
    'tsconfig.json': json({
      compilerOptions: {
        target: 'ES2023',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        types: ['node'],
        strict: true,
        noUncheckedIndexedAccess: true,
        verbatimModuleSyntax: true,
        skipLibCheck: true,
        noEmit: true,
      },
      include: ['src', 'test', 'vitest.config.ts'],
    }),
    'tsconfig.build.json': json({
      extends: './tsconfig.json',
      compilerOptions: { noEmit: false, declaration: true, rootDir: 'src', outDir: 'dist' },
      include: ['src'],
    }),
    'vitest.config.ts': vitestConfig,
    '.gitignore': 'node_modules/\ndist/\n*.tgz\n',
    'src/index.ts': processorModule(name),
    'test/index.test.ts': processorTest(name, '../src/index.js'),
    'README.md': packageReadme(packageName, name),
  };
}

const vitestConfig = `import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each runProcessor starts a worker thread and loads the processor there: seconds on a busy machine.
    testTimeout: 30_000,
  },
});
`;

const packageReadme = (packageName: string, name: string) => `# ${packageName}

The \`${name}\` processor for processor-orchestrator: what it computes, from which documents,
and what each factor means.

\`\`\`sh
npm install
npm test            # runs it through @processor-orchestrator/testing: a real worker thread, its real deadline
npm run build       # dist/index.js and its types: what the package ships
\`\`\`

- \`src/index.ts\` default-exports the processor (\`defineProcessor\` from
  \`@processor-orchestrator/sdk\`). A package may ship several: default-export an array of them.
- \`test/index.test.ts\` runs it with \`runProcessor\`, as the service runs it.
- The SDK is a **peer dependency**: the service's deployment provides it, so that one copy serves
  every processor package. Its major version is the plugin contract's; a service refuses, at
  start-up, a processor built for another major version.

## Releasing it

Rename the package (\`@your-scope/${packageName}\`) before the first release, then:

\`\`\`sh
npm version minor    # or patch / major: semantic versions of your processor
npm publish          # builds first (prepack); to your registry, as .npmrc says
\`\`\`

## Deploying it

A deployment depends on the service and on its processor packages, pinned by its lockfile, and
names the packages to load:

\`\`\`sh
npm install processor-orchestrator ${packageName}
PROCESSOR_PACKAGES=${packageName} npx processor-orchestrator processors   # listed, with its version
\`\`\`

The authoring guide (the contract, outcomes, deadlines, retries, the kit) is processors/README.md
in the processor-orchestrator repository.
`;
