import { z } from 'zod';

import {
  ONCE_FIELDS_PARSE,
  integer,
  issuerList,
  oneOf,
  optionalString,
  refuse,
  withDefault,
  httpUrl,
} from './fields.js';

export const PUSH_DEFAULTS = {
  PUSH_AUTH: 'required',
  PUSH_ACK_DEADLINE_SECONDS: 600,
  PUSH_JWKS_URL: 'https://www.googleapis.com/oauth2/v3/certs',
  PUSH_ISSUERS: 'https://accounts.google.com,accounts.google.com',
} as const;

const PUSH_AUTH_MODES = ['required', 'cloud-run', 'disabled'] as const;

export const pushVariables = {
  PUSH_AUTH: withDefault(PUSH_DEFAULTS.PUSH_AUTH, oneOf(PUSH_AUTH_MODES)),
  PUSH_AUDIENCE: optionalString,
  PUSH_SERVICE_ACCOUNT: optionalString,
  PUSH_JWKS_URL: withDefault(PUSH_DEFAULTS.PUSH_JWKS_URL, httpUrl),
  PUSH_ISSUERS: withDefault(PUSH_DEFAULTS.PUSH_ISSUERS, issuerList),
  PUSH_ACK_DEADLINE_SECONDS: integer(10, 600, PUSH_DEFAULTS.PUSH_ACK_DEADLINE_SECONDS),
};

/** Pub/Sub push (`POST /pubsub/push`): how its OIDC tokens are checked. */
export const pushSection = z
  .object({
    ...pushVariables,
    // Read here, owned elsewhere: the pubsub section checks it; Cloud Run sets K_SERVICE.
    PUBSUB_EMULATOR_HOST: optionalString,
    K_SERVICE: optionalString,
  })
  .superRefine((e, ctx) => {
    if (e.PUSH_AUTH === 'disabled' && !e.PUBSUB_EMULATOR_HOST) {
      refuse(ctx, 'PUSH_AUTH', '"disabled" is refused unless PUBSUB_EMULATOR_HOST is set (a local emulator)');
    }
    if (e.PUSH_AUTH === 'cloud-run' && !e.K_SERVICE) {
      refuse(
        ctx,
        'PUSH_AUTH',
        '"cloud-run" trusts Cloud Run\'s IAM check and is refused off Cloud Run (K_SERVICE is not set)',
      );
    }
  }, ONCE_FIELDS_PARSE)
  .transform((e) => ({
    push: {
      /**
       * `required`: every push token is verified here, signature and claims. `cloud-run`: on
       * Cloud Run with its IAM invoker check on, which verifies the signature and removes it; the
       * claims are checked here. `disabled`: no token (the emulator only).
       */
      auth: e.PUSH_AUTH,
      audience: e.PUSH_AUDIENCE,
      serviceAccount: e.PUSH_SERVICE_ACCOUNT,
      jwksUrl: e.PUSH_JWKS_URL,
      issuers: e.PUSH_ISSUERS,
      ackDeadlineSeconds: e.PUSH_ACK_DEADLINE_SECONDS,
    },
  }));

export type PushConfig = z.output<typeof pushSection>;
