// What a plugin module declares, read the same way on the main thread (discovery) and in a worker
// thread (which runs it): its default export is one processor definition, or an array of them (a
// package that ships several). Plain data only: nothing here may depend on which copy of the SDK
// made a definition.

/** The default export of a plugin module as a list: an array as it is, anything else alone. */
export function declaredDefinitions(defaultExport: unknown): readonly unknown[] {
  return Array.isArray(defaultExport) ? defaultExport : [defaultExport];
}

/** The definition with `id` among those a module declares, if there is one. */
export function declaredDefinition(defaultExport: unknown, id: string): unknown {
  return declaredDefinitions(defaultExport).find(
    (d) => typeof d === 'object' && d !== null && (d as { id?: unknown }).id === id,
  );
}
