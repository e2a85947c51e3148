import { z } from 'zod';

import {
  ONCE_FIELDS_PARSE,
  httpUrl,
  integer,
  issuerList,
  oneOf,
  optional,
  optionalString,
  refuse,
  withDefault,
} from './fields.js';

export const OPS_DEFAULTS = {
  OPS_AUTH: 'oidc',
  OPS_JWKS_URL: 'https://www.googleapis.com/oauth2/v3/certs',
  OPS_ISSUERS: 'https://accounts.google.com,accounts.google.com',
  OPS_IAP_JWKS_URL: 'https://www.gstatic.com/iap/verify/public_key-jwk',
  /** Operator actions are kept longer than executions: a year and a month. */
  OPS_AUDIT_TTL_DAYS: 400,
} as const;

const OPS_AUTH_MODES = ['oidc', 'iap', 'disabled'] as const;

// `a@b.c` or `*@b.c`, comma-separated; matched without regard to case.
const PRINCIPAL = /^(\*|[^\s@,*]+)@[^\s@,*]+\.[^\s@,*]+$/;
const principals = optional(
  z
    .string()
    .transform((s) =>
      s
        .split(/[,;\s]+/)
        .map((p) => p.trim().toLowerCase())
        .filter((p) => p !== ''),
    )
    .superRefine((list, ctx) => {
      const bad = list.find((p) => !PRINCIPAL.test(p));
      if (bad !== undefined)
        ctx.addIssue({
          code: 'custom',
          message: `must be comma-separated emails or *@domain ("${bad}" is neither)`,
        });
    }),
);

export const opsVariables = {
  OPS_AUTH: withDefault(OPS_DEFAULTS.OPS_AUTH, oneOf(OPS_AUTH_MODES)),
  OPS_AUDIENCE: optionalString,
  OPS_JWKS_URL: withDefault(OPS_DEFAULTS.OPS_JWKS_URL, httpUrl),
  OPS_ISSUERS: withDefault(OPS_DEFAULTS.OPS_ISSUERS, issuerList),
  OPS_IAP_AUDIENCE: optionalString,
  OPS_IAP_JWKS_URL: withDefault(OPS_DEFAULTS.OPS_IAP_JWKS_URL, httpUrl),
  OPS_READERS: principals,
  OPS_OPERATORS: principals,
  OPS_AUDIT_TTL_DAYS: integer(1, 3_650, OPS_DEFAULTS.OPS_AUDIT_TTL_DAYS),
};

/** Who may use the operations routes (`/ops`, docs/operations.md). */
export const opsSection = z
  .object({
    ...opsVariables,
    // Read here, owned by the pubsub and push sections (which check them).
    PUBSUB_EMULATOR_HOST: optionalString,
    PUSH_AUDIENCE: optionalString,
    PUSH_AUTH: optionalString,
  })
  .superRefine((e, ctx) => {
    if (e.OPS_AUTH === 'disabled' && !e.PUBSUB_EMULATOR_HOST) {
      refuse(
        ctx,
        'OPS_AUTH',
        '"disabled" is refused unless PUBSUB_EMULATOR_HOST is set (a local emulator); use oidc or iap',
      );
    }
    if (e.OPS_AUTH === 'iap' && !e.OPS_IAP_AUDIENCE) {
      refuse(
        ctx,
        'OPS_IAP_AUDIENCE',
        'required with OPS_AUTH=iap (/projects/NUMBER/locations/REGION/services/SERVICE for Cloud Run)',
      );
    }
    if (e.OPS_AUDIENCE !== undefined && e.OPS_AUDIENCE === e.PUSH_AUDIENCE) {
      refuse(ctx, 'OPS_AUDIENCE', 'must differ from PUSH_AUDIENCE, so that a push token never opens /ops');
    }
  }, ONCE_FIELDS_PARSE)
  .transform((e) => ({
    ops: {
      /**
       * `oidc`: a Google-signed ID token for `audience` in `Authorization: Bearer`. `iap`: the
       * service is behind Identity-Aware Proxy, whose signed `x-goog-iap-jwt-assertion` is checked.
       * `disabled`: everyone is an operator (the emulator only).
       */
      auth: e.OPS_AUTH,
      audience: e.OPS_AUDIENCE,
      jwksUrl: e.OPS_JWKS_URL,
      issuers: e.OPS_ISSUERS,
      iapAudience: e.OPS_IAP_AUDIENCE,
      iapJwksUrl: e.OPS_IAP_JWKS_URL,
      /**
       * Cloud Run's IAM check guards every request (`PUSH_AUTH=cloud-run`): an ID token whose
       * signature it removed is checked by its claims.
       */
      cloudRunIamChecked: e.PUSH_AUTH === 'cloud-run',
      /** Lower-case emails or `*@domain`: who may read; operators may also act (re-run, pause, bulk re-run). */
      readers: e.OPS_READERS ?? [],
      operators: e.OPS_OPERATORS ?? [],
      /** How long audit entries and bulk re-run jobs are kept (their `expireAt`, for Firestore's TTL policy). */
      auditTtlDays: e.OPS_AUDIT_TTL_DAYS,
    },
  }));

export type OpsConfig = z.output<typeof opsSection>;
