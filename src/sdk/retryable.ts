/**
 * Throw it from `execute` when a later try can succeed (a 429 or 5xx from an external API, a
 * connection refused): with a `retry` policy on the processor, the run is tried again after
 * exponential backoff with full jitter, or after `retryAfterMs` when given, up to the policy's
 * `attempts`. Without a policy it fails the run like any error. Any thrown value with
 * `retryable: true` (and optionally `retryAfterMs`) counts the same, so plain JavaScript plugins
 * need no import. TIMEOUTs are never retried.
 */
export class RetryableError extends Error {
  readonly retryable = true;
  /** Wait at least this long before the next try (an API's `Retry-After`), capped by the policy. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'RetryableError';
    this.retryAfterMs = options.retryAfterMs;
  }
}
