/**
 * The version of the plugin contract this SDK implements: the shape of a processor definition,
 * of `ctx` and of the result, and what the service does with them (semantic versioning, see
 * CHANGELOG.md). `defineProcessor` stamps it on every definition as `contractVersion`, and the
 * service refuses, at start-up, a processor built for another major version.
 *
 * - **minor**: something is added (a `ctx` field, an optional policy). A processor built for a
 *   newer minor still loads into an older service of the same major; a field it reads that the
 *   service does not yet give is `undefined`.
 * - **major**: something is removed or changes meaning or type.
 */
export const CONTRACT_VERSION: string = '1.0.0';
