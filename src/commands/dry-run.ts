import { processorSources, type Config } from '../config.js';
import { configuredDocumentSource } from '../documents/configured.js';
import { jsonText, parseDocument, type Document, type MissingDocument } from '../events/document.js';
import type { UnderwritingCreated } from '../events/underwriting-created.js';
import { createLogger } from '../logging.js';
import { discoverProcessors, originOf } from '../processors/discovery.js';
import { loadPurchases, resolvePurchases, type PurchaseSource } from '../purchases.js';
import { formatTable } from './table.js';

/**
 * `run --dry-run`: what `run` would do with `event`, as text: which processors would run and
 * why (the `--processors` option, the event's list, the organization's purchases, or every
 * installed processor), each one's deadline and where it comes from (its file, or its package),
 * and which documents resolve or are missing. Reads the processors, the purchases and the
 * documents; runs nothing.
 */
export async function dryRun(
  config: Config,
  event: UnderwritingCreated,
  options: { processorsOption: boolean },
): Promise<string> {
  const { data } = event;
  const installed = await discoverProcessors(processorSources(config));
  const purchases = await loadPurchases(config.purchasesFile);
  const { ids, source } = resolvePurchases(data, purchases, installed.keys());
  const documents = await configuredDocumentSource(config, createLogger(config.logLevel));
  let batch;
  try {
    batch = await documents.fetch(data.documents);
  } finally {
    await documents.close?.();
  }

  const why = options.processorsOption ? 'the --processors option' : reason(source, data, config);
  const processorRows = ids.map((id) => {
    const p = installed.get(id);
    if (!p) return [id, '-', '-', 'not installed: would be FAILED ("processor not installed")'];
    const deadline =
      p.timeoutMs === undefined ? `${config.processorTimeoutMs} ms (default)` : `${p.timeoutMs} ms`;
    return [id, p.version, deadline, originOf(p)];
  });
  // Read as the threads read them: a document that is not valid is missing, with the reason.
  const read = new Map<string, Document | MissingDocument>(batch.missing.map((m) => [m.id, m]));
  for (const text of batch.documents) read.set(text.id, parseDocument(text.id, jsonText(text)));
  const resolved = [...read.values()].filter((r) => !('reason' in r)).length;
  const documentRows = data.documents.map((id) => {
    const doc = read.get(id);
    return [
      id,
      doc === undefined
        ? 'missing: ?'
        : 'reason' in doc
          ? `missing: ${doc.reason}`
          : `resolves (${doc.document_type})`,
    ];
  });
  const where = config.documentsDir ?? config.documentsUrl ?? '';
  return [
    `underwriting ${data.underwriting_id}: ${ids.length} processor${ids.length === 1 ? '' : 's'} would run, from ${why}`,
    '',
    formatTable(['processor', 'version', 'deadline', 'from'], processorRows).trimEnd(),
    '',
    `documents from ${where}: ${resolved} of ${data.documents.length} resolve`,
    '',
    formatTable(['document', 'status'], documentRows).trimEnd(),
    '',
    'Dry run: nothing was run.',
    '',
  ].join('\n');
}

function reason(source: PurchaseSource, data: UnderwritingCreated['data'], config: Config): string {
  switch (source) {
    case 'event':
      return "the event's purchased_processors";
    case 'organization':
      return `the purchases of organization ${data.organization_id ?? ''} in PURCHASES_FILE (${config.purchasesFile ?? ''})`;
    case 'installed': {
      const org =
        data.organization_id === undefined
          ? 'no organization_id'
          : `organization ${data.organization_id} has no purchases${config.purchasesFile ? ' in PURCHASES_FILE' : ' (no PURCHASES_FILE)'}`;
      return `every installed processor (the event lists none; ${org})`;
    }
  }
}
