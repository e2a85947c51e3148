import { SpanStatusCode, type Context, type Tracer } from '@opentelemetry/api';

import { errorType } from '../../errors.js';
import type { UnderwritingCreated } from '../../events/underwriting-created.js';
import type { Claim } from '../../ledger/ledger.js';
import type { Logger } from '../../logging.js';
import type { RunOutcome } from '../../processors/run.js';
import type { InboundMessage, Verdict } from '../message.js';

/**
 * The handler's steps, in Watermill's style: each is built once, around the step below it
 * (`step(deps)(next)`), and hands each message on by calling `next`. See `handler.ts` for the list.
 */
export type Next<In extends unknown[]> = (...args: In) => Promise<Verdict>;

/** One message in the steps below the trace: its span's context, and a log that names the span. */
export interface Delivery {
  readonly message: InboundMessage;
  readonly ctx: Context;
  /** Made when first read (a child logger per event costs the main thread microseconds): read it to write. */
  readonly log: Logger;
}

/** A valid event whose key this delivery holds in the ledger: what the core works on. */
export interface Claimed {
  readonly event: UnderwritingCreated;
  /** The execution key (`executionKey`). */
  readonly key: string;
  readonly claim: Claim;
  /** A re-run's: the outcomes it takes from the execution it re-runs (`rerunTakes`). */
  readonly reuse: ReadonlyMap<string, RunOutcome> | undefined;
}

/** A call of the ledger, named `name` (its span: `ledger <name>`). */
export type LedgerCall = <T>(name: string, ctx: Context, call: () => Promise<T>) => Promise<T>;

/**
 * Ledger calls, each under its own span when `traced` (the ledger goes over the network); the
 * in-process ledgers answer in microseconds, and spans would only add noise to the trace.
 */
export function ledgerCalls(tracer: Tracer, traced: boolean): LedgerCall {
  if (!traced) return (_name, _ctx, call) => call();
  return (name, ctx, call) => {
    const span = tracer.startSpan(`ledger ${name}`, undefined, ctx);
    return call().then(
      (value) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorType(err) });
        span.end();
        throw err;
      },
    );
  };
}
