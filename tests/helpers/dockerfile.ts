import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, posix } from 'node:path';

import { repoRoot } from './fixtures.js';

/** One instruction of a Dockerfile: its keyword (upper case) and the rest of its line. */
export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  name: string;
  /** The base image, with build arguments' defaults substituted. */
  image: string;
  instructions: Instruction[];
}

/**
 * Parses a Dockerfile into stages: continuation lines joined, comments and parser directives
 * dropped, `${ARG}` in FROM replaced by the global ARG's default.
 */
export function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args };
    if (instruction.keyword === 'FROM') {
      const [, image = '', name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? [];
      const resolved = image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a?: string, b?: string) => {
        const value = globalArgs.get((a ?? b) as string);
        if (value === undefined) throw new Error(`Dockerfile: FROM uses ${a ?? b}, which has no default`);
        return value;
      });
      stages.push({ name: name ?? String(stages.length), image: resolved, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== 'ARG') throw new Error(`Dockerfile: ${line} before the first FROM`);
      const [, argName = '', value = ''] = /^(\w+)(?:=(.*))?$/.exec(args) ?? [];
      globalArgs.set(argName, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

/** `["a", "b"]` (exec form) as an array; the shell form is refused. */
export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
    throw new Error(`Dockerfile: expected the exec form ["…"], got ${args}`);
  }
  return parsed;
}

/** `KEY=value KEY2=value2` of an ENV instruction. */
export function envPairs(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of args.split(/\s+/)) {
    const [key = '', ...rest] = pair.split('=');
    env[key] = rest.join('=');
  }
  return env;
}

/** The patterns of `.dockerignore` (plain names and `*` globs; `!` exceptions are not used). */
export function dockerignore(): string[] {
  const path = join(repoRoot, '.dockerignore');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

function ignored(source: string, patterns: string[]): string | undefined {
  const path = posix.normalize(source).replace(/^\.\//, '').replace(/\/$/, '');
  return patterns.find((pattern) => {
    const p = pattern.replace(/^\//, '').replace(/\/$/, '');
    const glob = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`);
    return glob.test(path);
  });
}

/** What reproducing a stage did: its root folder, working folder, environment and user. */
export interface BuiltStage {
  stage: Stage;
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
}

/**
 * Rebuilds stages of the Dockerfile into folders under `into`, without Docker: each stage's
 * filesystem is a folder, WORKDIR is a folder inside it, COPY copies from the repository (the
 * build context, minus `.dockerignore`) or from another stage rebuilt the same way, and RUN runs
 * in the working folder with `sh` (the exec form without a shell), a path in ENV naming one in the
 * stage's folder. One step is not repeated: a full `npm ci` (dev dependencies
 * included) links the repository's own `node_modules`, the install of the same lockfile; an
 * `npm ci --omit=dev` runs for real, so a dev-only dependency used at run time fails here.
 */
export function createStageBuilder(stages: Stage[], into: string) {
  const built = new Map<string, BuiltStage>();
  const ignore = dockerignore();

  function build(name: string): BuiltStage {
    const done = built.get(name);
    if (done) return done;
    const stage = stages.find((s) => s.name === name);
    if (!stage) throw new Error(`Dockerfile: no stage named ${name}`);
    const root = join(into, name);
    mkdirSync(root, { recursive: true });
    const state: BuiltStage = { stage, root, workdir: '/', env: {}, user: undefined };
    const inStage = (path: string) => join(root, posix.resolve(state.workdir, path));

    for (const { keyword, args } of stage.instructions) {
      if (keyword === 'WORKDIR') {
        state.workdir = posix.resolve(state.workdir, args);
        mkdirSync(inStage('.'), { recursive: true });
      } else if (keyword === 'ENV') {
        Object.assign(state.env, envPairs(args));
      } else if (keyword === 'USER') {
        state.user = args;
      } else if (keyword === 'COPY') {
        copy(args, inStage);
      } else if (keyword === 'RUN') {
        // A path in the image's environment is a path in the stage's folder.
        const env = Object.fromEntries(
          Object.entries(state.env).map(([key, value]) => [
            key,
            value.startsWith('/') ? inStage(value) : value,
          ]),
        );
        run(args, inStage('.'), env);
      }
    }
    built.set(name, state);
    return state;
  }

  function copy(args: string, inStage: (path: string) => string): void {
    const words = args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((w) => !w.startsWith('--'));
    const dest = paths.pop();
    if (dest === undefined || paths.length === 0) throw new Error(`Dockerfile: COPY ${args}`);
    const source = from === undefined ? undefined : build(from);
    for (const path of paths) {
      let src: string;
      if (source) {
        if (!isAbsolute(path)) throw new Error(`Dockerfile: COPY --from needs an absolute path: ${path}`);
        src = join(source.root, path);
      } else {
        const rule = ignored(path, ignore);
        if (rule) throw new Error(`Dockerfile: COPY ${path}, but .dockerignore excludes it (${rule})`);
        src = join(repoRoot, path);
      }
      if (!existsSync(src)) throw new Error(`Dockerfile: COPY ${path}: it does not exist`);
      const intoFolder = dest.endsWith('/') || paths.length > 1;
      const target =
        statSync(src).isDirectory() || !intoFolder ? inStage(dest) : join(inStage(dest), basename(src));
      mkdirSync(dirname(target), { recursive: true });
      // As Docker's COPY: a symbolic link is copied as it is (a workspace's link stays relative).
      cpSync(src, target, { recursive: true, verbatimSymlinks: true });
    }
  }

  function run(command: string, cwd: string, env: Record<string, string>): void {
    if (/^npm ci\b/.test(command) && !/--omit=dev\b/.test(command)) {
      symlinkSync(join(repoRoot, 'node_modules'), join(cwd, 'node_modules'), 'dir');
      return;
    }
    // The exec form runs without a shell (the runtime image has none); the image's node is this
    // machine's node.
    const [file, ...args] = command.startsWith('[') ? execForm(command) : ['sh', '-c', command];
    execFileSync(file?.endsWith('/node') ? process.execPath : (file ?? ''), args, {
      cwd,
      env: { ...process.env, ...env, npm_config_update_notifier: 'false' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }

  return { build };
}
