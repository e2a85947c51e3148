// What replay has heard of each message it published: its result, or its dead letter, whichever
// arrives first (the other, and any repeat, is ignored). A result may arrive before the publish of
// its message has returned its id: it is kept until then (the first that arrives for an id).
import type { ProcessingCompleted } from '../events/processing-completed.js';
import type { ReplayInput } from '../replay/inputs.js';

export interface Outcome {
  input: ReplayInput;
  messageId: string;
  result?: ProcessingCompleted;
  deadLettered?: string;
  /** Differences from the expected result (with --expect). */
  diff?: string[];
}

type Arrival = (o: Outcome) => void;

export class ReplayOutcomes {
  readonly #outcomes = new Map<string, Outcome>();
  /** What arrived for a message whose publish has not returned yet. */
  readonly #early = new Map<string, Arrival>();
  #settled = 0;
  #wake: () => void = () => {};

  /** `changed` is told after each message that settles (the progress line). */
  constructor(
    readonly expected: number,
    private readonly changed: (settled: number) => void = () => {},
  ) {}

  get settled(): number {
    return this.#settled;
  }

  /** Tells `changed` where things stand (after the last publish). */
  progress(): void {
    this.changed(this.#settled);
  }

  /** Every outcome, in the order they were published. */
  all(): Outcome[] {
    return [...this.#outcomes.values()];
  }

  /** A message was published: what arrived for it before is applied now. */
  published(messageId: string, input: ReplayInput): void {
    this.#outcomes.set(messageId, { input, messageId });
    const arrived = this.#early.get(messageId);
    if (arrived) this.arrived(messageId, arrived);
  }

  /** A result or a dead letter arrived for the message `id` (its `source_message_id`). */
  arrived(id: string | undefined, apply: Arrival): void {
    if (id === undefined) return;
    const outcome = this.#outcomes.get(id);
    if (!outcome) {
      if (!this.#early.has(id)) this.#early.set(id, apply);
      return;
    }
    if (outcome.result || outcome.deadLettered) return;
    apply(outcome);
    this.#settled += 1;
    this.changed(this.#settled);
    this.#wake();
  }

  /** Resolves once every expected message settled, or at `deadline` (ms since the epoch). */
  async until(deadline: number): Promise<void> {
    while (this.#settled < this.expected && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
      });
    }
  }
}
