import type { Config } from '../config.js';
import { OrchestratorError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import { createFileDocumentSource } from './file-source.js';
import type { DocumentSource } from './source.js';

/**
 * The document source the configuration names: a folder of files, or the document service. The
 * HTTP client and Google's auth library are imported only for the service, so that commands
 * reading files start fast.
 */
export async function configuredDocumentSource(
  config: Config,
  log: Logger,
  telemetry?: Pick<Telemetry, 'metrics' | 'tracer'>,
): Promise<DocumentSource> {
  if (config.documentsDir) return createFileDocumentSource(config.documentsDir);
  if (config.documentsUrl) {
    const [{ createHttpDocumentSource }, { googleIdTokenHeader }] = await Promise.all([
      import('./http-source.js'),
      import('./id-token.js'),
    ]);
    return createHttpDocumentSource({
      baseUrl: config.documentsUrl,
      ...config.documentsHttp,
      authorization: config.documentsAudience ? googleIdTokenHeader(config.documentsAudience) : undefined,
      onRetry: telemetry && (() => telemetry.metrics.fetchRetries.add(1)),
      tracer: telemetry?.tracer,
      log,
    });
  }
  throw new OrchestratorError(
    'CONFIG_INVALID',
    'DOCUMENTS_URL: not set; set it to the document service (or DOCUMENTS_DIR to a folder of {id}.json files)',
  );
}
