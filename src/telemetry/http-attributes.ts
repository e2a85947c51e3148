// OpenTelemetry's HTTP client conventions, as plain data: the main thread's document requests and
// the worker threads' recorder name their spans' attributes the same way. No OpenTelemetry here
// (worker threads import it).

/** The attributes of a client span for `method url`, known before the request is sent. */
export function httpRequestAttributes(method: string, url: URL): Record<string, string | number> {
  return {
    'http.request.method': method,
    'url.full': url.href,
    'server.address': url.hostname,
    ...(url.port && { 'server.port': Number(url.port) }),
  };
}

/** A request that got no answer: the span's error message and its `error.type`. */
export function httpFailure(error: unknown): { message: string; type: string } {
  return error instanceof Error
    ? { message: error.message, type: error.name }
    : { message: 'request failed', type: 'Error' };
}
