import { randomFillSync } from 'node:crypto';

import { ulid } from 'ulid';

// ulid() alone detects its random source again and asks crypto for one byte at a time, 16 times:
// ~39 µs a call, the largest cost of a dispatch on the main thread. Random bytes drawn 4 KiB at a
// time bring it under a microsecond, with the same cryptographic source.
const bytes = new Uint8Array(4096);
let next = bytes.length;

function pooledRandom(): number {
  if (next === bytes.length) {
    randomFillSync(bytes);
    next = 0;
  }
  return (bytes[next++] as number) / 256;
}

/** A new ULID: an execution id, minted when a run is dispatched. */
export function newExecutionId(): string {
  return ulid(undefined, pooledRandom);
}
