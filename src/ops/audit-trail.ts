import { ulid } from 'ulid';

import type { AuditAction, AuditEntry, OpsScope } from '../ledger/ops-records.js';
import type { OpsIdentity } from './views.js';

/** One operator action, as the audit trail keeps it: who, when, why, what it selected, what it did. */
export function auditEntry(
  by: OpsIdentity,
  action: AuditAction,
  subject: string,
  reason: string | null | undefined,
  selection: AuditEntry['selection'],
  result: AuditEntry['result'],
): AuditEntry {
  return {
    id: ulid(),
    at: new Date().toISOString(),
    by: by.email,
    action,
    subject,
    reason: reason ?? null,
    selection,
    result,
  };
}

/** What the answers say about where the operations state lives. */
export function scopeOf(scope: OpsScope): { scope: OpsScope; note: string | null } {
  return {
    scope,
    note:
      scope === 'instance'
        ? 'LEDGER=memory: pauses, bulk re-run jobs and the audit trail hold for this instance only; other instances neither see nor follow them (use LEDGER=firestore)'
        : null,
  };
}
