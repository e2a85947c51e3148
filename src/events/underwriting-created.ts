import { z } from 'zod';

/** What purchases and results name a processor by. */
export const ProcessorIdSchema = z
  .string()
  .regex(/^[a-z0-9_]+$/, 'a processor id is lower-case letters, digits and underscores');

/**
 * Present when an operator asked for a re-run (`POST /ops/underwritings/{id}/rerun`): the event
 * runs `processors` again and takes every other processor's outcome from execution `of` as it
 * was recorded; its `processing.completed` carries `rerun_of`. Such an event always has an
 * `event_id` (minted by the request), so a redelivery of it is the same execution.
 */
export const RerunOfSchema = z.object({
  /** The earlier execution's key. */
  of: z.string().min(1).max(1_500),
  processors: z.array(ProcessorIdSchema).min(1),
  requested_by: z.string().min(1).max(320),
  reason: z.string().min(1).max(500),
  /** Set when a bulk re-run job requested it (`POST /ops/reruns`): the job's id. */
  job: z.string().min(1).max(200).optional(),
});
export type RerunOf = z.infer<typeof RerunOfSchema>;

/**
 * `underwriting.created`, the inbound event (message data, UTF-8 JSON). Tolerant: unknown fields
 * are accepted and dropped, so a `__proto__` key is never copied onto anything.
 */
export const UnderwritingCreatedSchema = z.object({
  event: z.literal('underwriting.created'),
  data: z.object({
    underwriting_id: z.string().min(1),
    documents: z.array(z.string().min(1)),
    organization_id: z.string().min(1).optional(),
    purchased_processors: z.array(ProcessorIdSchema).optional(),
    /**
     * The producer's own id for this event: the execution ledger's key when present (else the
     * Pub/Sub message id), so that the same event published twice is still one execution.
     */
    event_id: z.string().min(1).max(1_500).optional(),
    rerun: RerunOfSchema.optional(),
  }),
});
export type UnderwritingCreated = z.infer<typeof UnderwritingCreatedSchema>;
