// Writes the JSON Schema files for consumers (schemas/*.json) from the zod schemas.
// `npm run schemas`; a test fails when the committed files are out of date.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jsonSchemas } from '../src/events/json-schema.js';
import { packageRoot } from '../src/paths.js';

for (const [name, text] of Object.entries(jsonSchemas())) {
  const file = join(packageRoot, 'schemas', name);
  await writeFile(file, text);
  process.stdout.write(`wrote ${file}\n`);
}
