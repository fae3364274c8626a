// ESLint flat config: JavaScript, TypeScript and Vue rules; Prettier owns formatting.
import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import vue from 'eslint-plugin-vue'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  // src/types/openapi.ts is generated from openapi.json (npm run gen:api), not written here.
  {
    ignores: [
      'dist/',
      'node_modules/',
      'test-results/',
      'playwright-report/',
      'src/types/openapi.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...vue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
  },
  {
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      // v-html is allowed only for the sanitizing Markdown renderer's output (ChatMarkdown.vue).
      'vue/no-v-html': 'error',
    },
  },
  {
    files: ['e2e/**/*.ts', '*.config.ts', '*.config.js'],
    languageOptions: { globals: { ...globals.node } },
    // Playwright reads a fixture's dependencies from its destructuring pattern, even `{}`.
    rules: { 'no-empty-pattern': 'off' },
  },
  prettier,
)
