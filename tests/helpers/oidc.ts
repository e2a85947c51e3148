import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';

export const GOOGLE_ISSUER = 'https://accounts.google.com';
export const AUDIENCE = 'https://orchestrator.test/pubsub/push';
export const PUSH_SA = 'pubsub-push@test-project.iam.gserviceaccount.com';

/** Options of one signed token: claims replace the valid ones; `key` signs instead of the issuer's. */
export interface SignOptions {
  claims?: JWTPayload;
  /** Claims to leave out of the valid set. */
  omit?: string[];
  key?: CryptoKey;
  kid?: string;
}

/**
 * A stand-in for Google's OIDC signer: an RSA key pair whose public half a loopback server
 * serves as a JWKS, and tokens shaped like the ones Pub/Sub attaches to pushes.
 */
export interface TestIssuer {
  jwksUrl: string;
  /** How many times the key set was fetched. */
  fetches(): number;
  /** A token Pub/Sub could have sent, valid for AUDIENCE and PUSH_SA unless told otherwise. */
  sign(options?: SignOptions): Promise<string>;
  /** Another RSA key, which the JWKS does not publish. */
  strangerKey(): Promise<CryptoKey>;
  /** The public key as PEM (for the HS256 key-confusion forgery). */
  publicPem(): Promise<string>;
  /** From now on the JWKS answers 500 (`true`) or the keys again (`false`). */
  failJwks(failing: boolean): void;
  close(): Promise<void>;
}

export const KID = 'test-key-1';

/** `alg`: RS256 as Google signs ID tokens, or ES256 as Identity-Aware Proxy signs its assertions. */
export async function startTestIssuer(alg: 'RS256' | 'ES256' = 'RS256'): Promise<TestIssuer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: KID, alg, use: 'sig' };
  let fetches = 0;
  let failing = false;
  const server: Server = createServer((_request, response) => {
    fetches += 1;
    if (failing) {
      response.writeHead(500).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    jwksUrl: `http://127.0.0.1:${port}/oauth2/v3/certs`,
    fetches: () => fetches,
    async sign(options: SignOptions = {}) {
      const now = Math.floor(Date.now() / 1000);
      const claims: JWTPayload = {
        iss: GOOGLE_ISSUER,
        aud: AUDIENCE,
        sub: '112233445566778899',
        azp: '112233445566778899',
        email: PUSH_SA,
        email_verified: true,
        iat: now,
        exp: now + 3600,
        ...options.claims,
      };
      for (const name of options.omit ?? []) delete claims[name];
      return new SignJWT(claims)
        .setProtectedHeader({ alg, kid: options.kid ?? KID, typ: 'JWT' })
        .sign(options.key ?? privateKey);
    },
    async strangerKey() {
      return (await generateKeyPair(alg)).privateKey;
    },
    publicPem: () => exportSPKI(publicKey),
    failJwks(value: boolean) {
      failing = value;
    },
    close: () =>
      new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned token (`alg: none`) carrying otherwise valid claims (`claims` replace them). */
export function unsignedToken(overrides: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: GOOGLE_ISSUER,
    aud: AUDIENCE,
    email: PUSH_SA,
    email_verified: true,
    iat: now,
    exp: now + 3600,
    ...overrides,
  };
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.`;
}
