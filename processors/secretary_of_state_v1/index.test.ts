import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import type { Document, ProcessorContext } from '@processor-orchestrator/sdk';
import { runProcessor } from '@processor-orchestrator/testing';

import secretaryOfState from './index.js';
import { normalizeEntityType } from './registration.js';

function context(documents: Document[]): ProcessorContext {
  return {
    underwritingId: 'uw_test',
    executionId: '01J0000000000000000000000A',
    documents,
    missingDocuments: [],
    signal: new AbortController().signal,
    log: pino({ level: 'silent' }),
  };
}

const doc = (id: string, document_type: string, metadata: Record<string, unknown>): Document => ({
  document_id: id,
  document_type,
  metadata,
});

const run = (documents: Document[]) => secretaryOfState.execute(context(documents)).factors;

const articles = doc('art', 'articles_of_incorporation', {
  business_name: 'Acme Logistics, Inc.',
  state: 'de',
  entity_type: 'Corporation',
  registration_date: '2019-03-14',
  registration_number: 7712345,
});
const certificate = doc('cgs', 'certificate_of_good_standing', {
  business_name: 'ACME LOGISTICS INC',
  state: 'DE',
  status: 'Good Standing',
});

describe('secretary_of_state_v1', () => {
  it('reports the registration facts of the articles and the certificate', () => {
    expect(run([articles, certificate])).toEqual({
      documents_analyzed: 2,
      business_registered: true,
      business_name: 'ACME LOGISTICS INC',
      registration_state: 'DE',
      entity_type: 'corporation',
      registration_date: '2019-03-14',
      registration_number: '7712345',
      status: 'good_standing',
      good_standing: true,
      name_consistent: true,
      state_consistent: true,
    });
  });

  it('takes a fact from the most authoritative document that states it', () => {
    const registration = doc('reg', 'business_registration', { business_name: 'Acme', status: 'inactive' });
    const activeCertificate = doc('cgs', 'certificate_of_good_standing', { status: 'Active' });
    const factors = run([articles, registration, activeCertificate]);
    expect(factors.status).toBe('active');
    expect(factors.business_name).toBe('Acme');
    expect(factors.registration_date).toBe('2019-03-14');
  });

  it('compares business names without case, spaces or punctuation', () => {
    const spaced = doc('reg', 'business_registration', { business_name: 'acme   logistics inc.' });
    expect(run([articles, certificate, spaced]).name_consistent).toBe(true);
  });

  it('notices documents that name different businesses', () => {
    const other = doc('reg', 'business_registration', { business_name: 'Acme Logistics LLC' });
    expect(run([articles, other]).name_consistent).toBe(false);
  });

  it('notices documents that name different states', () => {
    const texas = doc('reg', 'business_registration', { state: 'TX' });
    expect(run([articles, texas]).state_consistent).toBe(false);
  });

  it('treats a certificate of good standing without a status as good standing', () => {
    const bare = doc('cgs', 'certificate_of_good_standing', { business_name: 'Acme' });
    const factors = run([bare]);
    expect(factors.status).toBeNull();
    expect(factors.good_standing).toBe(true);
    expect(factors.business_registered).toBe(true);
  });

  it('is not in good standing without a certificate or a good status', () => {
    const factors = run([articles]);
    expect(factors.status).toBeNull();
    expect(factors.good_standing).toBe(false);
    expect(factors.business_registered).toBe(true);
  });

  it('reports a dissolved business as neither registered nor in good standing', () => {
    const dissolved = doc('reg', 'business_registration', { registration_number: 'X1', status: 'Dissolved' });
    const factors = run([articles, dissolved]);
    expect(factors.status).toBe('dissolved');
    expect(factors.good_standing).toBe(false);
    expect(factors.business_registered).toBe(false);
  });

  it('does not call a business registered without evidence of a filing', () => {
    const nameOnly = doc('reg', 'business_registration', { business_name: 'Acme', status: 'active' });
    expect(run([nameOnly]).business_registered).toBe(false);
  });

  it('ignores documents of other types', () => {
    const license = doc('dl', 'drivers_license', { state: 'California', business_name: 'Someone Else' });
    const factors = run([articles, license]);
    expect(factors.documents_analyzed).toBe(1);
    expect(factors.name_consistent).toBe(true);
  });

  it('fails when there is no business document', () => {
    const license = doc('dl', 'drivers_license', {});
    expect(() => run([license])).toThrow(
      'no business registration document (certificate_of_good_standing, business_registration, articles_of_incorporation, articles_of_organization) among the 1 documents',
    );
  });

  it('refuses a registration date that is not a calendar date', () => {
    const bad = doc('art', 'articles_of_incorporation', { registration_date: '2023-02-30' });
    expect(() => run([bad])).toThrow(
      'document art: registration_date must be a date (YYYY-MM-DD), got "2023-02-30"',
    );
  });

  it('refuses a state that is not a two-letter code', () => {
    const bad = doc('art', 'articles_of_incorporation', { state: 'Delaware' });
    expect(() => run([bad])).toThrow('document art: state must be a two-letter state code, got "Delaware"');
  });

  it('refuses a business name that is not text', () => {
    const bad = doc('art', 'articles_of_incorporation', { business_name: { name: 'Acme' } });
    expect(() => run([bad])).toThrow('document art: business_name must be text, got {"name":"Acme"}');
  });
});

describe('normalizeEntityType', () => {
  it.each([
    ['LLC', 'llc'],
    ['Limited Liability Company', 'llc'],
    ['Inc.', 'corporation'],
    ['C-Corp', 'corporation'],
    ['Limited Partnership', 'limited_partnership'],
  ])('reads %s as %s', (given, expected) => {
    expect(normalizeEntityType(given)).toBe(expected);
  });
});

describe('secretary_of_state_v1 through the test kit (a real worker thread)', () => {
  it('publishes the same factors as it computes in-process', async () => {
    const result = await runProcessor(secretaryOfState, { documents: [articles, certificate] });
    expect(result).toMatchObject({ status: 'completed', factors: run([articles, certificate]) });
  });
});
