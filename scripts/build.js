// `npm run build`: compiles into dist.next/ and only a clean compile replaces dist/. A failed
// build (a syntax error in a processor, say) leaves the last good dist/ and a runnable bin in
// place, and says so; tsc alone would have emitted the broken JavaScript over it.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import process from 'node:process';

const DIST = 'dist';
const NEXT = 'dist.next';
const OLD = 'dist.old';
/** The npm bin: it must keep its run bit, or `npx processor-orchestrator` answers "Permission denied". */
const BIN = 'src/cli.js';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/**
 * `npm run build` of a workspace package (packages/NAME): the SDK before the service, the test kit
 * after it. A checkout without it (a copy of this script elsewhere) has nothing to build there.
 */
function buildWorkspace(dir) {
  if (!existsSync(`${dir}/package.json`)) return;
  const args = ['run', 'build', '--silent', '-w', dir];
  const npm = process.env.npm_execpath;
  const built = npm
    ? spawnSync(process.execPath, [npm, ...args], { stdio: 'inherit' })
    : spawnSync('npm', args, { stdio: 'inherit' });
  if (built.status !== 0) {
    process.stderr.write(`build failed: ${dir} (the errors above name the files)\n`);
    process.exit(1);
  }
}

// The service and its processors import the SDK as an installed package: its types first.
buildWorkspace('packages/sdk');
for (const dir of [NEXT, OLD]) rmSync(dir, { recursive: true, force: true });
const compiled = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', NEXT], {
  stdio: 'inherit',
});
if (compiled.status !== 0) {
  rmSync(NEXT, { recursive: true, force: true });
  const kept = existsSync(`${DIST}/${BIN}`)
    ? 'dist/ still holds the last good build'
    : 'there is no dist/ yet';
  process.stderr.write(`build failed (the errors above name the files): ${kept}\n`);
  process.exit(1);
}
chmodSync(`${NEXT}/${BIN}`, 0o755);
// Two renames: dist/ is never half written, and is missing only between them.
if (existsSync(DIST)) renameSync(DIST, OLD);
renameSync(NEXT, DIST);
rmSync(OLD, { recursive: true, force: true });
// The test kit is compiled from the service's sources (packages/testing).
buildWorkspace('packages/testing');
