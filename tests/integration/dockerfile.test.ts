import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { DEFAULTS } from '../../src/config.js';
import { ProcessingCompletedSchema } from '../../src/events/processing-completed.js';
import { examplesDir } from '../../src/paths.js';
import {
  createStageBuilder,
  execForm,
  parseDockerfile,
  type BuiltStage,
  type Stage,
} from '../helpers/dockerfile.js';
import { repoRoot } from '../helpers/fixtures.js';
import {
  TEST_PROJECT_ID,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
} from '../helpers/pubsub.js';
import { postPush, pushEnvelope } from '../helpers/push.js';
import { killServe, startServe, type ServeProcess } from '../helpers/serve.js';

const host = inject('pubsubEmulatorHost');
const stages: Stage[] = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
const runtime = stages.at(-1) as Stage;
const last = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;

let scratch: string;
let image: BuiltStage;
let serve: ServeProcess | undefined;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'dockerfile-'));
  // Outside the checkout, so nothing resolves to the repository's own node_modules.
  image = createStageBuilder(stages, scratch).build(runtime.name);
}, 180_000);

// Removing the built stages (two installs of the production dependencies) took more than the
// default 30 s in a full run on a busy machine.
afterAll(async () => {
  await killServe(serve);
  rmSync(scratch, { recursive: true, force: true });
}, 120_000);

describe('the Dockerfile', () => {
  it('builds in stages and runs on a Node 22 image as a non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(runtime.image).toMatch(/nodejs22|node:22/);
    expect(image.user).toBeDefined();
    expect(image.user).not.toMatch(/^(root|0)(:|$)/);
    // The runtime stage installs nothing: what it has, it copies. Its one RUN is its own node
    // writing the compile cache, as the user it runs as (Node keeps a cache per user).
    const keywords = runtime.instructions.map((i) => i.keyword);
    expect(runtime.instructions.filter((i) => i.keyword === 'RUN').map((i) => execForm(i.args))).toEqual([
      ['/nodejs/bin/node', '--enable-source-maps', 'dist/src/compile-cache.js'],
    ]);
    expect(keywords.indexOf('RUN')).toBeGreaterThan(keywords.lastIndexOf('COPY'));
    expect(keywords.indexOf('RUN')).toBeGreaterThan(keywords.indexOf('USER'));
  });

  it("writes Node's compile cache of a start, under the runtime user's home, with the image's own files", () => {
    expect(image.env['NODE_COMPILE_CACHE']).toMatch(/^\/home\/nonroot\//);
    // The RUN imported what a start loads from the production dependencies alone (the build would
    // have thrown otherwise). A node that keeps a compile cache (22.1 and later, as in the image)
    // wrote it there; this machine's Node 20 has none to write.
    const cache = join(image.root, image.env['NODE_COMPILE_CACHE'] ?? '');
    if (typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === 'function') {
      expect(readdirSync(cache).length).toBeGreaterThan(0);
    } else {
      expect(existsSync(cache)).toBe(false);
    }
  });

  it('defaults PORT to the port it exposes, and runs serve', () => {
    expect(image.env['PORT']).toBe(String(DEFAULTS.PORT));
    expect(last('EXPOSE')).toBe(String(DEFAULTS.PORT));
    expect(execForm(last('CMD') ?? '[]')).toEqual(['dist/src/cli.js', 'serve']);
  });

  it('keeps dev dependencies out of the runtime image', () => {
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages)
      .filter(([path, meta]) => path.startsWith('node_modules/') && meta.dev === true)
      .map(([path]) => path);
    expect(devOnly).toContain('node_modules/vitest');
    const installed = (path: string) => {
      try {
        readFileSync(join(image.root, image.workdir, path, 'package.json'));
        return true;
      } catch {
        return false;
      }
    };
    expect(devOnly.filter(installed)).toEqual([]);
    expect(installed('node_modules/piscina')).toBe(true);
  });

  it('serves from what its runtime stage copies: ready, and a push becomes processing.completed', async () => {
    const pubsub = emulatorPubSub(host);
    const completedTopic = uniqueName('completed');
    const { subscription } = await createTopicWithSubscription(
      pubsub,
      completedTopic,
      `${completedTopic}-sub`,
    );
    const completed = collectMessages(subscription);
    try {
      const entrypoint = execForm(last('ENTRYPOINT') ?? '[]');
      expect(entrypoint[0]).toMatch(/\/node$/);
      serve = startServe(
        {
          ...image.env,
          NODE_COMPILE_CACHE: join(image.root, image.env['NODE_COMPILE_CACHE'] ?? ''),
          PORT: '0',
          GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
          PUBSUB_EMULATOR_HOST: host,
          PUSH_AUTH: 'disabled',
          COMPLETED_TOPIC: completedTopic,
          DOCUMENTS_DIR: join(examplesDir, 'documents'),
        },
        // The image's node is this machine's node; the rest of the command line is the image's.
        {
          args: [...entrypoint.slice(1), ...execForm(last('CMD') ?? '[]')],
          cwd: join(image.root, image.workdir),
        },
      );
      const base = `http://127.0.0.1:${await serve.port()}`;
      const ready = await fetch(`${base}/readyz`);
      expect(await ready.json()).toMatchObject({ status: 'ready' });
      expect(ready.status).toBe(200);
      // Push only, the publisher connects just after (docs/running.md#start-up), with the client
      // library loaded from the image's own dependencies.
      for (const giveUp = performance.now() + 20_000; ;) {
        const answer = await fetch(`${base}/readyz`);
        const body: unknown = await answer.json();
        if (answer.status === 200 && JSON.stringify(body) === JSON.stringify({ status: 'ready' })) break;
        expect(performance.now(), `still ${JSON.stringify(body)}`).toBeLessThan(giveUp);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }

      const data = {
        event: 'underwriting.created',
        data: { underwriting_id: 'uw_image', documents: ['doc_001'], purchased_processors: ['bank_stmt_v1'] },
      };
      const res = await postPush(base, pushEnvelope(JSON.stringify(data), { messageId: 'image-1' }));
      expect(res.status).toBe(204);
      const [message] = await completed.waitFor(1, 10_000);
      const result = ProcessingCompletedSchema.parse(JSON.parse(message!.data));
      expect(result.completed_processors.map((p) => p.processor_id)).toEqual(['bank_stmt_v1']);

      serve.child.kill('SIGTERM');
      expect((await serve.exited).code).toBe(0);
    } finally {
      await completed.close();
      await pubsub.close();
    }
  });
});
