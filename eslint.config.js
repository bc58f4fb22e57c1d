import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules', 'dist', '.wrangler', '.data', 'worker-configuration.d.ts', 'migrations', 'coverage', '**/*.js', '**/*.mjs', '**/*.cjs', '!eslint.config.js', 'bench/_scratch'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'Worker code reads typed config (shared/env.ts), never process.env.' },
      ],
    },
  },
  {
    // Node-side tooling may read the environment.
    files: ['scripts/**', 'tools/**', 'bench/**', 'test/**', '**/*.test.ts', '*.config.ts', '*.config.js'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['**/*.test.ts', 'test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
