// `node dist/src/compile-cache.js`, run once by the Dockerfile with NODE_COMPILE_CACHE set: it
// imports what a start of `serve` loads (pulling or push only, the Firestore ledger, the HTTP
// document source, the telemetry SDK) and runs none of it. Node (22.1 and later) writes the code
// it compiled to that folder as it exits, and a cold instance reads it back instead of compiling
// (docs/running.md#start-up). Without a compile cache (Node 20) it only imports them.
import './commands/serve.js';
import './service.js';
import './transport/pull.js';
import './transport/pubsub-client.js';
import './ledger/firestore-client.js';
import './ledger/firestore.js';
import './ledger/ops-firestore.js';
import './documents/http-source.js';
import './documents/id-token.js';
import './telemetry/sdk.js';
