import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// What the packages may import: the SDK nothing but itself and Node; the test kit's runtime (the
// pool, its worker thread, discovery, and the kit's entry) nothing of the service's transports,
// configuration or cloud clients, since the kit ships it to processor authors.
const KIT_MAY_NOT_IMPORT = [
  {
    group: ['**/config.js', '**/service.js', '**/runtime.js', '**/orchestrator.js'],
    message: 'the test kit ships this module: no service wiring or configuration',
  },
  {
    group: [
      '**/transport/*',
      '**/pubsub/*',
      '**/ledger/*',
      '**/ops/*',
      '**/documents/*',
      '**/commands/*',
      '**/auth/*',
    ],
    message: 'the test kit ships this module: no transports',
  },
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
    files: ['src/processors/**/*.ts', 'src/testing/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: KIT_MAY_NOT_IMPORT }] },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
