/**
 * secretary_of_state_v1: the business's registration with its state, from its business documents.
 *
 * Reads the documents whose `document_type` is `certificate_of_good_standing`,
 * `business_registration`, `articles_of_incorporation` or `articles_of_organization`. Their
 * `metadata` may state, all optional:
 *
 * | field | value |
 * | --- | --- |
 * | `business_name` | text |
 * | `state` | two-letter state code (`DE`, `tx`) |
 * | `entity_type` | text; `LLC`, `Limited Liability Company` → `llc`; `Inc.`, `C-Corp` → `corporation` |
 * | `registration_date` | `YYYY-MM-DD` |
 * | `registration_number` | text or a whole number |
 * | `status` | text: `active`, `good standing`, `inactive`, `dissolved`, `revoked`… |
 *
 * When documents disagree, a fact comes from the most authoritative document that states it: a
 * good-standing certificate, then a business registration, then the articles. A value of the
 * wrong form (a state that is not two letters, a date that is not a calendar date, a number
 * where text is expected) fails the run with a message naming the document and the field.
 *
 * Factors: see {@link RegistrationFactors}. Fails when the underwriting has no business document.
 *
 * @packageDocumentation
 */
import { defineProcessor } from '@processor-orchestrator/sdk';

import { registrationFacts, type RegistrationFactors } from './facts.js';
import { BUSINESS_DOCUMENT_TYPES, byAuthority, readRegistration } from './registration.js';

export default defineProcessor({
  id: 'secretary_of_state_v1',
  version: '1.0.0',
  execute(ctx): { factors: RegistrationFactors } {
    const documents = byAuthority(ctx.documents);
    if (documents.length === 0) {
      const types = BUSINESS_DOCUMENT_TYPES.join(', ');
      throw new Error(
        `no business registration document (${types}) among the ${ctx.documents.length} documents`,
      );
    }
    const factors = registrationFacts(documents.map(readRegistration));
    ctx.log.debug({ documents: documents.length, status: factors.status }, 'business registration read');
    return { factors };
  },
});
