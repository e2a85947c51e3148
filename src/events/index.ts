export * from './document.js';
export * from './processing-completed.js';
export * from './underwriting-created.js';
export { jsonSchemas } from './json-schema.js';
export { decodeEvent, type Decoded } from './decode.js';
