// Marks an instance for every copy of the SDK: a key of the global symbol registry, not an object.
const RETRYABLE = Symbol.for('processor-orchestrator.RetryableError');

/**
 * Throw it from `execute` when a later try can succeed (a 429 or 5xx from an external API, a
 * connection refused): with a `retry` policy on the processor, the run is tried again after
 * exponential backoff with full jitter, or after `retryAfterMs` when given, up to the policy's
 * `attempts`. Without a policy it fails the run like any error. Any thrown value with
 * `retryable: true` (and optionally `retryAfterMs`) counts the same, so plain JavaScript plugins
 * need no import. TIMEOUTs are never retried.
 *
 * The service recognises it by `retryable: true`, never by its class, and `instanceof
 * RetryableError` holds for an instance made by any copy of the SDK loaded in the process.
 */
export class RetryableError extends Error {
  readonly retryable = true;
  /** Wait at least this long before the next try (an API's `Retry-After`), capped by the policy. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'RetryableError';
    this.retryAfterMs = options.retryAfterMs;
    Object.defineProperty(this, RETRYABLE, { value: true, enumerable: false });
  }

  /**
   * `x instanceof RetryableError` holds for an instance made by any copy's class (or a subclass);
   * `x instanceof MySubclass` asks the prototype chain, as usual.
   */
  static [Symbol.hasInstance](this: unknown, value: unknown): boolean {
    if (this !== RetryableError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && RETRYABLE in value;
  }
}
