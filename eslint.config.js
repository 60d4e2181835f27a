// One lint configuration for the whole repository: type-aware rules, so that
// floating promises and unsafe `any` flows are caught before they reach a socket.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importCyclesRule } from './eslint/import-cycles.js';
import { importEntriesRule } from './eslint/import-entries.js';
import { importLayersRule } from './eslint/import-layers.js';

/** The project's own rules: the architecture's import boundaries. */
export const streammeshPlugin = {
  rules: {
    'import-layers': importLayersRule,
    'import-cycles': importCyclesRule,
    'import-entries': importEntriesRule,
  },
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'scripts/', 'bin/'] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's describe/it return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { streammesh: streammeshPlugin },
    rules: {
      'streammesh/import-layers': ['error', { root: import.meta.dirname }],
      'streammesh/import-cycles': ['error', { root: import.meta.dirname }],
      'streammesh/import-entries': ['error', { root: import.meta.dirname }],
    },
  },
  {
    files: ['eslint.config.js', 'eslint/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
