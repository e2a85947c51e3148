import { GoogleAuth, type IdTokenClient } from 'google-auth-library';

/**
 * The `Authorization` header value for calls to a service that wants a Google ID token for
 * `audience` (Cloud Run service to service): from Application Default Credentials (the metadata
 * server on Cloud Run), cached by the client until five minutes before it expires. Calls made
 * while a token is being fetched share that fetch; a failure is not remembered.
 */
export function googleIdTokenHeader(audience: string): () => Promise<string> {
  const auth = new GoogleAuth();
  let client: Promise<IdTokenClient> | undefined;
  let pending: Promise<string> | undefined;

  async function header(): Promise<string> {
    client ??= auth.getIdTokenClient(audience);
    try {
      const value = (await (await client).getRequestHeaders()).get('authorization');
      if (!value) throw new Error('the ID token client gave no Authorization header');
      return value;
    } catch (err) {
      client = undefined;
      throw err;
    }
  }

  return () =>
    (pending ??= header().finally(() => {
      pending = undefined;
    }));
}
