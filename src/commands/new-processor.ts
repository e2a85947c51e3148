import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';

import { OrchestratorError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { IGNORED_NAMES } from '../processors/discovery.js';
import { PACKAGE_NAME, PACKAGE_NAME_MAX } from '../processors/packages.js';
import { commandArgs } from './args.js';
import {
  packageFiles,
  processorModule,
  processorTest,
  type ScaffoldVersions,
} from './processor-templates.js';

// A processor id (what purchases and results name), starting with a letter.
const NAME = /^[a-z][a-z0-9_]{2,63}$/;

/**
 * `new-processor NAME`: creates `processors/NAME/index.ts` and `index.test.ts` under the current
 * folder: a processor that builds, passes its test and is discovered as it is. With `--package
 * DIR`, a standalone processor package in DIR instead (its name is DIR's): the processor, its test
 * with the kit, package.json (the SDK as a peer dependency, the kit as a dev dependency),
 * tsconfig and a README; it builds and passes its test once installed. Refuses a name that is not
 * a processor id, one that discovery would ignore (`example*`, `_*`), and a target that exists.
 */
export async function newProcessorCommand(args: string[]): Promise<number> {
  const { positionals, values } = commandArgs('new-processor', args, {
    options: { package: { type: 'string' } },
    positionals: { min: 1, max: 1, what: 'one NAME' },
  });
  const [name = ''] = positionals;
  checkName(name);
  if (values.package !== undefined) return scaffoldPackage(name, resolve(values.package));
  const dir = join(process.cwd(), 'processors', name);
  if (existsSync(dir))
    throw new OrchestratorError('USAGE', `new-processor: ${relative(process.cwd(), dir)} exists already`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'index.ts'), processorModule(name));
  await writeFile(join(dir, 'index.test.ts'), processorTest(name, './index.js'));
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

function checkName(name: string): void {
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
}

async function scaffoldPackage(name: string, dir: string): Promise<number> {
  const packageName = basename(dir);
  if (!PACKAGE_NAME.test(packageName) || packageName.length > PACKAGE_NAME_MAX) {
    throw new OrchestratorError(
      'USAGE',
      `new-processor: --package ${dir}: the package is named after its folder, and "${packageName}" is not an npm package name (lower-case letters, digits, -._~)`,
    );
  }
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) {
    throw new OrchestratorError('USAGE', `new-processor: --package ${dir} exists already and is not empty`);
  }
  for (const [path, content] of Object.entries(packageFiles(packageName, name, scaffoldVersions()))) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  process.stdout.write(
    [
      `Created the processor package ${packageName} in ${dir}: src/index.ts, test/index.test.ts, package.json, tsconfig.json, README.md.`,
      'Next:',
      `  cd ${shortPath(dir)} && npm install && npm test && npm run build`,
      'The authoring guide: processors/README.md of processor-orchestrator',
      '',
    ].join('\n'),
  );
  return 0;
}

/** A path as the user would type it: relative below the working folder, else absolute. */
function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') ? path : rel;
}

/** The versions this service is built and tested with, from its own package.json. */
function scaffoldVersions(): ScaffoldVersions {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as {
    version: string;
    engines: { node: string };
    dependencies: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const dev = pkg.devDependencies ?? {};
  const sdk = pkg.dependencies['@processor-orchestrator/sdk'] ?? '';
  return {
    // The service pins the SDK it implements; a processor accepts any later minor.
    sdk: `^${sdk.replace(/^[\^~]/, '')}`,
    // The kit ships this service's runtime: released with it, under the same version.
    testing: `^${pkg.version}`,
    typescript: dev['typescript'] ?? 'latest',
    vitest: dev['vitest'] ?? 'latest',
    tsx: dev['tsx'] ?? 'latest',
    typesNode: dev['@types/node'] ?? 'latest',
    node: pkg.engines.node,
  };
}
