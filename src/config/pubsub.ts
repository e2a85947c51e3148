import { z } from 'zod';

import {
  ONCE_FIELDS_PARSE,
  hostPort,
  optional,
  optionalString,
  refuse,
  resourceName,
  wholeNumber,
  withDefault,
} from './fields.js';

export const PUBSUB_DEFAULTS = {
  UNDERWRITING_TOPIC: 'underwriting-created',
  COMPLETED_TOPIC: 'processing-completed',
} as const;

export const pubsubVariables = {
  GOOGLE_CLOUD_PROJECT: optionalString,
  PUBSUB_EMULATOR_HOST: hostPort,
  UNDERWRITING_TOPIC: withDefault(PUBSUB_DEFAULTS.UNDERWRITING_TOPIC, resourceName),
  UNDERWRITING_SUBSCRIPTION: optional(resourceName),
  COMPLETED_TOPIC: withDefault(PUBSUB_DEFAULTS.COMPLETED_TOPIC, resourceName),
  DEAD_LETTER_TOPIC: optional(resourceName),
  PULL_MAX_MESSAGES: optional(wholeNumber(1, 10_000)),
};

/** Pub/Sub: the project, the emulator, the topics and the pull subscription. */
export const pubsubSection = z
  .object(pubsubVariables)
  .superRefine((e, ctx) => {
    if (e.PUBSUB_EMULATOR_HOST && !e.GOOGLE_CLOUD_PROJECT) {
      refuse(ctx, 'GOOGLE_CLOUD_PROJECT', 'required with PUBSUB_EMULATOR_HOST (any id, e.g. local-project)');
    }
  }, ONCE_FIELDS_PARSE)
  .transform((e) => ({
    pubsub: {
      /** Project id; unset, the client library finds it (metadata server, credentials). */
      projectId: e.GOOGLE_CLOUD_PROJECT,
      /** host:port of the Pub/Sub emulator, when talking to it. */
      emulatorHost: e.PUBSUB_EMULATOR_HOST,
      /** Where `underwriting.created` is published (`dev` and `replay` publish there). */
      underwritingTopic: e.UNDERWRITING_TOPIC,
      /** Pull subscription: when set, `serve` pulls from it. */
      underwritingSubscription: e.UNDERWRITING_SUBSCRIPTION,
      completedTopic: e.COMPLETED_TOPIC,
      /** Where poison messages are forwarded; unset, they are logged at ERROR and acked. */
      deadLetterTopic: e.DEAD_LETTER_TOPIC,
      /**
       * Optional ceiling on pulled events in progress (pulled, verdict not given). Unset, admission
       * alone decides from the CPU, memory and event-loop delay it measures (`src/admission/`).
       */
      pullMaxMessages: e.PULL_MAX_MESSAGES,
    },
  }));

export type PubsubConfig = z.output<typeof pubsubSection>;
