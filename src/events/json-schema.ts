import { z } from 'zod';

import { DocumentSchema } from './document.js';
import { ProcessingCompletedSchema } from './processing-completed.js';
import { UnderwritingCreatedSchema } from './underwriting-created.js';

/** The JSON Schema files published for consumers, by file name, generated from the zod schemas. */
export function jsonSchemas(): Record<string, string> {
  const files = {
    'underwriting-created.json': z.toJSONSchema(UnderwritingCreatedSchema, { io: 'input' }),
    'document.json': z.toJSONSchema(DocumentSchema, { io: 'input' }),
    'processing-completed.json': z.toJSONSchema(ProcessingCompletedSchema, { io: 'output' }),
  };
  return Object.fromEntries(
    Object.entries(files).map(([name, schema]) => [name, `${JSON.stringify(schema, null, 2)}\n`]),
  );
}
