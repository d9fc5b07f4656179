// Lint with type information: `npm run lint`; test/lint.test.ts runs it, so a finding fails CI.
// Base: typescript-eslint's strictTypeChecked (recommendedTypeChecked and more), which holds the rules
// that catch real bugs in async code (no-floating-promises, no-misused-promises, await-thenable,
// return-await, only-throw-error, prefer-promise-reject-errors) and the no-unsafe-* family.
// Rules that are noise for this codebase are off below with their reason, not disabled line by line;
// a disable comment that no longer disables anything is an error.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

// Node's globals, for the JavaScript files (TypeScript's own checker covers the .ts files).
const nodeGlobals = Object.fromEntries(
  [
    'AbortController',
    'AbortSignal',
    'Buffer',
    'URL',
    'clearInterval',
    'clearTimeout',
    'console',
    'process',
    'setInterval',
    'setTimeout',
  ].map((name) => [name, 'readonly']),
);

export default defineConfig(
  {
    // generated/: generator output, fixed in the generator, never by hand. One release is linted, the one
    // `import 'qapi-ts'` gives (the others come from the same emitters); its types are in the program anyway.
    // Fixtures are inputs for tests, some wrong on purpose.
    ignores: [
      'generated/*',
      '!generated/qemu-10.2/',
      '!generated/latest.ts',
      'dist/**',
      'pages/**',
      '.cache/**',
      'tmp/**',
      'bench/fixtures/**',
      'test/fixtures/**',
    ],
  },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // tsconfig.json's program; root files outside it (vitest.config.ts) get a default one.
        projectService: { allowDefaultProject: ['*.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Not in any preset: a switch over a union that forgets a member, or says nothing of the rest.
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      // Numbers and booleans read fine in a message; undefined, null, objects and arrays in one are the bugs.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // Passing on a caught value (typed unknown) is not making up a non-Error one.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // A `let` declared before the callbacks that read it and assigned once after them cannot be const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],

      // Noise here, off:
      // noUncheckedIndexedAccess is off, so it calls needed checks of arr[i], and of peer data typed as trusted,
      // "unnecessary" (e.g. the undefined check of a stack's top in wire/json.ts).
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // `map.get(k)!` after a has() and the like are deliberate; tsc's strict mode is the null check.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Style: `(t) => void write(t)` and arrow bodies that are a void call are idiomatic here.
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-meaningless-void-operator': 'off',
      '@typescript-eslint/no-invalid-void-type': 'off',
      // An async function without await is how a synchronous throw becomes a rejection; the rule's fix undoes that.
      '@typescript-eslint/require-await': 'off',
      // checkFunction<F>(value: unknown): F is a checked cast by design; the rule would move the cast to every caller.
      '@typescript-eslint/no-unnecessary-type-parameters': 'off',
      // Spelling out a default type argument documents it (onAny's QmpEvent<string, JsonValue>: any event).
      '@typescript-eslint/no-unnecessary-type-arguments': 'off',
      // It flags each `as ObjectType` downcast of the schema model, made where the checker guarantees the kind.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      // String(x) of an x typed string but cast from unknown or read from a peer is deliberate defence here.
      '@typescript-eslint/no-unnecessary-type-conversion': 'off',
    },
  },
  {
    files: ['generated/**'],
    rules: {
      // A QAPI struct with no members of its own is an empty interface, by design.
      '@typescript-eslint/no-empty-object-type': 'off',
      // A union names its deprecated branches (they are still part of the protocol).
      '@typescript-eslint/no-deprecated': 'off',
    },
  },
  {
    files: ['test/**'],
    rules: {
      // Tests read parsed JSON and fakes' payloads as any; a wrong guess fails the expectation.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // Tests print protocol ids and objects on purpose (String(qmp) tests toString).
      '@typescript-eslint/no-base-to-string': 'off',
      // Tests use deprecated QAPI members on purpose (the deprecation policy's tests).
      '@typescript-eslint/no-deprecated': 'off',
    },
  },
  {
    // Compile-only type tests (vitest typecheck, against dist/ through the package's exports): they misuse
    // the API on purpose under @ts-expect-error and name types only to check them.
    files: ['test/types/**'],
    extends: [tseslint.configs.disableTypeChecked],
    rules: { '@typescript-eslint/no-unused-vars': 'off' },
  },
  {
    // Plain JavaScript (scripts/, examples/, config files): no type information, so no type-aware rules.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: nodeGlobals },
  },
);
