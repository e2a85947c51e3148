import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';

import { OrchestratorError, formatIssues, messageOf } from '../errors.js';
import { CapturedPushSchema } from '../transport/push-envelope.js';

/** One message to replay, as it will be published. */
export interface ReplayInput {
  /** Names its result: `--out DIR/{name}.json`, `--expect DIR/{name}.json`. */
  name: string;
  /** Where it came from, for messages: `file` or `file:line`. */
  origin: string;
  data: Buffer;
  attributes: Record<string, string>;
}

const EXTENSIONS = new Set(['.json', '.jsonl']);

/**
 * Reads what `replay` was given: files, or folders (their `.json` and `.jsonl` files, in name
 * order). A `.json` file holds one event or one captured push envelope (`message.data` base64,
 * `message.attributes`), which replays with its data and attributes as they came; a `.jsonl`
 * file holds one of either per line. An event is published byte for byte as the file has it.
 */
export async function readReplayInputs(paths: readonly string[]): Promise<ReplayInput[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch((err: unknown) => {
      throw unreadable(path, err);
    });
    if (!info.isDirectory()) files.push(path);
    else {
      const names = (await readdir(path)).filter((n) => EXTENSIONS.has(extname(n))).sort();
      files.push(...names.map((n) => join(path, n)));
    }
  }
  const inputs: ReplayInput[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch((err: unknown) => {
      throw unreadable(file, err);
    });
    const name = basename(file, extname(file));
    if (extname(file) === '.jsonl') {
      text.split('\n').forEach((line, i) => {
        if (line.trim() !== '') inputs.push(message(`${name}.${i + 1}`, `${file}:${i + 1}`, line));
      });
    } else {
      inputs.push(message(name, file, text.trimEnd()));
    }
  }
  if (inputs.length === 0) throw new OrchestratorError('USAGE', `no events in ${paths.join(', ')}`);
  return inputs;
}

function message(name: string, origin: string, text: string): ReplayInput {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new OrchestratorError('EVENT_INVALID', `${origin}: not JSON: ${messageOf(err)}`);
  }
  const envelope = (json as { message?: unknown } | null)?.message;
  if (envelope && typeof envelope === 'object' && ('data' in envelope || 'attributes' in envelope)) {
    const parsed = CapturedPushSchema.safeParse(json);
    if (!parsed.success) {
      throw new OrchestratorError(
        'EVENT_INVALID',
        `${origin}: not a push envelope: ${formatIssues(parsed.error.issues)}`,
      );
    }
    const { data, attributes } = parsed.data.message;
    return { name, origin, data: Buffer.from(data ?? '', 'base64'), attributes: { ...attributes } };
  }
  return { name, origin, data: Buffer.from(text), attributes: {} };
}

function unreadable(path: string, err: unknown): OrchestratorError {
  return new OrchestratorError('EVENT_INVALID', `${path}: cannot read: ${messageOf(err)}`, { cause: err });
}
