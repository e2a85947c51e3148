import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Layers: data flows one way, transport → orchestrator → pool → plugin (docs/architecture.md). The
// processors/ layer (the pool, its scheduler, its worker thread, discovery) sits at the bottom of
// that flow: it never reaches up into the modules that call it.
const ABOVE_PROCESSORS = [
  '**/transport/*',
  '**/ops/*',
  '**/commands/*',
  '**/ledger/*',
  '**/admission/*',
  '**/guard/*',
  '**/replay/*',
  '**/service.js',
  '**/runtime.js',
  '**/orchestrator.js',
  '**/budget.js',
  '**/config.js',
  '**/config/*',
];

// What the test kit may import: the kit ships the pool, its worker thread, discovery and its own
// entry to processor authors, so these import nothing of the service's wiring, configuration,
// transports or cloud clients.
const KIT_WIRING = ['**/config.js', '**/config/*', '**/service.js', '**/runtime.js', '**/orchestrator.js'];
const KIT_TRANSPORTS = [
  '**/transport/*',
  '**/pubsub/*',
  '**/ledger/*',
  '**/ops/*',
  '**/documents/*',
  '**/commands/*',
  '**/auth/*',
];
const KIT_PACKAGES = [
  {
    group: ['**/telemetry/open.js', '**/telemetry/sdk.js'],
    message: 'the test kit ships this module: no OpenTelemetry SDK',
  },
  {
    group: [
      '@google-cloud/*',
      'fastify',
      'google-auth-library',
      'undici',
      'jose',
      '@opentelemetry/sdk-*',
      '@opentelemetry/exporter-*',
      '@opentelemetry/resources',
      '@opentelemetry/core',
    ],
    message: 'the test kit ships this module: no cloud clients or telemetry export',
  },
];
const KIT_MAY_NOT_IMPORT = [
  { group: KIT_WIRING, message: 'the test kit ships this module: no service wiring or configuration' },
  { group: KIT_TRANSPORTS, message: 'the test kit ships this module: no transports' },
  ...KIT_PACKAGES,
];
// processors/ is both a layer and what the kit ships: one list per file, since a later rule entry
// replaces an earlier one, and a module two groups match is reported twice.
const PROCESSORS_MAY_NOT_IMPORT = [
  {
    group: [...new Set([...ABOVE_PROCESSORS, ...KIT_WIRING, ...KIT_TRANSPORTS])],
    message:
      'processors/ is the bottom layer (transport → orchestrator → pool → plugin) and the test kit ships it: ' +
      'no transports, ops, commands, ledger, admission, guard, service wiring or configuration',
  },
  ...KIT_PACKAGES,
];

export default tseslint.config(
  { ignores: ['**/dist/', 'dist.next/', 'dist.old/', 'coverage/', '**/node_modules/', 'tests/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['packages/sdk/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./|node:)',
              message: 'the SDK has no dependencies: its own modules and node: only',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/processors/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: PROCESSORS_MAY_NOT_IMPORT }] },
  },
  {
    files: ['src/testing/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: KIT_MAY_NOT_IMPORT }] },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
