import { z } from 'zod';

/** What a pushed message carries: its data (base64) and attributes. */
export const PushedMessageContentSchema = z.object({
  // Absent when the message has attributes only.
  data: z.base64().optional(),
  attributes: z.record(z.string(), z.string()).optional(),
});

/** The body of a Pub/Sub push request ("wrapped" payload); unknown fields are ignored. */
export const PushEnvelopeSchema = z.object({
  message: PushedMessageContentSchema.extend({
    messageId: z.string().min(1),
    publishTime: z.iso.datetime({ offset: true }),
  }),
  subscription: z.string().min(1),
  // Present when the subscription has a dead-letter policy.
  deliveryAttempt: z.number().int().positive().optional(),
});
export type PushEnvelope = z.infer<typeof PushEnvelopeSchema>;

/**
 * A push envelope as captured for replay: only the message's data and attributes matter (they
 * are published again as they came); the ids and times of the original delivery may be absent.
 */
export const CapturedPushSchema = z.object({ message: PushedMessageContentSchema });
