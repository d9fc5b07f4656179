/**
 * The emitters (codegen/emit): small inline schemas, one per feature, each
 * rendered to an SDK in a temp folder. Every case checks the text it must
 * contain; all cases are then compiled together with tsc (strict), with
 * type-level assertions (`@ts-expect-error` fails when the type is too
 * loose), and run through prettier, which must leave them unchanged.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as prettier from 'prettier';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSchema } from '../codegen/frontend.js';
import { type Protocol } from '../codegen/emit/type-mapping.js';
import { convertRst, removeHangingIndent } from '../codegen/emit/jsdoc.js';
import { NameCollisionError, propertyKey, tsTypeName } from '../codegen/emit/naming.js';
import { PRETTIER_OPTIONS, type OutputFile } from '../codegen/emit/output.js';
import { printStatements } from '../codegen/emit/printer.js';
import { renderSdk } from '../codegen/generate.js';
import type { Schema } from '../codegen/schema.js';
import { ROOT } from './support/qemu-sources.js';

/** Loads a schema from memory (and its includes, if any). */
function load(text: string): Schema {
  return loadSchema('main.json', {
    dialect: 'auto',
    readFile: (p) => {
      if (p !== 'main.json') throw Object.assign(new Error(`no ${p}`), { code: 'ENOENT' });
      return text;
    },
  });
}

const lines = (...l: string[]): string => l.join('\n') + '\n';

interface Case {
  readonly name: string;
  readonly schema: string;
  readonly protocol?: Protocol;
  /** Text that must appear in the named file. */
  readonly contains?: Record<string, readonly string[]>;
  /** Text that must not appear anywhere. */
  readonly lacks?: readonly string[];
  /** TypeScript that must compile next to the SDK (imports from './index.js'). */
  readonly check?: string;
}

const CASES: Case[] = [
  {
    name: 'struct-with-base',
    schema: lines(
      "{ 'struct': 'Base', 'data': { 'id': 'str' } }",
      "{ 'struct': 'Child', 'base': 'Base', 'data': { '*name': 'str', 'count': 'int', 'small': 'int32', 'node-name': 'str' } }",
      "{ 'command': 'make-child', 'data': { 'child': 'Child' } }",
    ),
    contains: {
      'types.ts': [
        'export interface Base {\n  id: string;\n}',
        'export interface Child extends Base {',
        '  name?: string;',
        '  count: Int64;',
        '  small: number;',
        "  'node-name': string;",
        'A 64-bit integer (`Int64`): a `bigint` beyond 2^53 by default; see the `int64` option.',
      ],
      'commands.ts': ["'make-child': {", "params: [args: QmpCommands['make-child']['args']];"],
    },
    check: `
      import type { Child, QmpCommands } from './index.js';
      const c: Child = { id: 'a', count: 2n ** 60n, small: 1, 'node-name': 'n' };
      const d: Child = { id: 'a', count: 1, small: 1, 'node-name': 'n', name: 'x' };
      // @ts-expect-error 'id' comes from the base and is required
      const e: Child = { count: 1, small: 1, 'node-name': 'n' };
      // @ts-expect-error int32 is a number, never a bigint
      const f: Child = { id: 'a', count: 1, small: 1n, 'node-name': 'n' };
      const p: QmpCommands['make-child']['params'] = [{ child: c }];
      export { d, e, f, p };
    `,
  },
  {
    name: 'union-base-name-taken',
    schema: lines(
      "{ 'enum': 'Kind', 'data': [ 'a' ] }",
      "{ 'struct': 'OuterBase', 'data': { 'x': 'str' } }",
      "{ 'union': 'Outer', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind', 'data': {} }",
      "{ 'command': 'take', 'data': { 'o': 'Outer', 'b': 'OuterBase' } }",
    ),
    contains: {
      // The schema has an OuterBase: the helper keeps its '$$' name, which no schema type can have.
      'types.ts': ['export interface OuterBase {\n  x: string;\n}', 'export interface Outer$$base {\n  kind: Kind;\n}'],
    },
  },
  {
    name: 'unions',
    schema: lines(
      "{ 'enum': 'Kind', 'data': [ 'a', 'b', 'c' ] }",
      "{ 'enum': 'Sub', 'data': [ 'x', 'y' ] }",
      "{ 'struct': 'Alpha', 'data': { 'alpha': 'str' } }",
      "{ 'struct': 'Common', 'data': { 'sub': 'Sub', '*extra': 'bool' } }",
      "{ 'union': 'Inner', 'base': 'Common', 'discriminator': 'sub', 'data': { 'x': 'Alpha' } }",
      "{ 'union': 'Outer', 'base': { 'kind': 'Kind', '*common': 'bool' }, 'discriminator': 'kind',",
      "  'data': { 'a': 'Alpha', 'b': 'Inner' } }",
      "{ 'command': 'take', 'data': 'Outer', 'boxed': true }",
    ),
    contains: {
      'types.ts': [
        'export type Outer = Outer$a | Outer$b | Outer$c;',
        'export interface OuterBase {\n  kind: Kind;\n  common?: boolean;\n}',
        "export interface Outer$a extends OuterBase, Alpha {\n  kind: 'a';\n}",
        // A branch that is a union: an intersection.
        "export type Outer$b = OuterBase & { kind: 'b' } & Inner;",
        // A value without a branch: the base alone.
        "export interface Outer$c extends OuterBase {\n  kind: 'c';\n}",
        // A named base is extended directly.
        "export interface Inner$x extends Common, Alpha {\n  sub: 'x';\n}",
        "export interface Inner$y extends Common {\n  sub: 'y';\n}",
      ],
      'commands.ts': [
        '  take: {\n    args: Outer;\n    params: [args: Outer];\n    returns: Record<string, never>;\n  };',
      ],
    },
    check: `
      import type { Outer, QmpCommands } from './index.js';
      const a: Outer = { kind: 'a', alpha: 's' };
      const b: Outer = { kind: 'b', sub: 'x', alpha: 's', common: true };
      const b2: Outer = { kind: 'b', sub: 'y' };
      const c: Outer = { kind: 'c' };
      // @ts-expect-error branch 'a' needs 'alpha'
      const bad: Outer = { kind: 'a' };
      // @ts-expect-error 'd' is no kind
      const bad2: Outer = { kind: 'd' };
      function narrow(o: Outer): string | undefined {
        if (o.kind === 'a') return o.alpha;
        if (o.kind === 'b' && o.sub === 'x') return o.alpha;
        return undefined;
      }
      const p: QmpCommands['take']['params'] = [a];
      export { a, b, b2, c, bad, bad2, narrow, p };
    `,
  },
  {
    name: 'alternate-and-enum-docs',
    schema: lines(
      '##',
      '# @Color:',
      '#',
      '# Colors of things.',
      '#',
      '# @red: the red one',
      '#',
      '# @green: the green one',
      '#',
      '# Since: 1.0',
      '##',
      "{ 'enum': 'Color', 'data': [ 'red', 'green' ] }",
      '##',
      '# @Thing:',
      '#',
      '# A thing.',
      '#',
      '# @color: its color',
      '##',
      "{ 'struct': 'Thing', 'data': { 'color': 'Color' } }",
      '##',
      '# @Alt:',
      '#',
      '# One of several.',
      '#',
      '# @b: a boolean',
      '#',
      '# @n: a number',
      '#',
      '# @t: a thing',
      '#',
      '# @nul: nothing',
      '##',
      "{ 'alternate': 'Alt', 'data': { 'b': 'bool', 'n': 'int', 't': 'Thing', 'nul': 'null' } }",
      '##',
      '# @Alt2:',
      '#',
      '# Enum or list.',
      '#',
      '# @c: a color',
      '#',
      '# @l: colors',
      '##',
      "{ 'alternate': 'Alt2', 'data': { 'c': 'Color', 'l': ['Color'] } }",
      '##',
      '# @paint:',
      '#',
      '# Paints.',
      '#',
      '# @what: what',
      '#',
      '# @how: how',
      '##',
      "{ 'command': 'paint', 'data': { 'what': 'Alt', 'how': 'Alt2' } }",
    ),
    contains: {
      'types.ts': [
        [
          '/**',
          ' * Colors of things.',
          ' *',
          ' * @since 1.0',
          ' */',
          'export type Color =',
          '  /** the red one */',
          "  | 'red'",
          '  /** the green one */',
          "  | 'green';",
        ].join('\n'),
        [
          '/** One of several. */',
          'export type Alt =',
          '  /** a boolean */',
          '  | boolean',
          '  /**',
          '   * a number',
          '   *',
          '   * A 64-bit integer (`Int64`): a `bigint` beyond 2^53 by default; see the `int64` option.',
          '   */',
          '  | Int64',
          '  /** a thing */',
          '  | Thing',
          '  /** nothing */',
          '  | null;',
        ].join('\n'),
        '  | Color\n  /** colors */\n  | Color[];',
      ],
    },
    check: `
      import type { Alt, Alt2 } from './index.js';
      const xs: Alt[] = [true, 1, 1n, null, { color: 'red' }];
      const ys: Alt2[] = ['red', ['green']];
      // @ts-expect-error not a color
      const z: Alt2 = 'blue';
      export { xs, ys, z };
    `,
  },
  {
    name: 'command-shapes',
    schema: lines(
      "{ 'struct': 'Opts', 'data': { '*a': 'str', '*b': 'bool' } }",
      "{ 'command': 'ping' }",
      "{ 'command': 'opt', 'data': { '*a': 'str' } }",
      "{ 'command': 'boxed-opt', 'data': 'Opts', 'boxed': true }",
      "{ 'command': 'named', 'data': 'Opts' }",
      "{ 'command': 'dev-add', 'data': { 'driver': 'str', '*id': 'str' }, 'gen': false }",
      "{ 'command': 'query-things', 'returns': ['Opts'] }",
      "{ 'command': 'query-any', 'returns': 'any' }",
      "{ 'pragma': { 'command-returns-exceptions': [ 'query-str', 'query-any' ] } }",
      "{ 'command': 'query-str', 'returns': 'str' }",
      "{ 'event': 'EMPTY' }",
      "{ 'event': 'FULL', 'data': { 'id': 'str' } }",
      "{ 'event': 'BOXED', 'data': 'Opts', 'boxed': true }",
    ),
    contains: {
      'commands.ts': [
        '  ping: {\n    args: Record<string, never>;\n    params: [];\n    returns: Record<string, never>;\n  };',
        "params: [args?: QmpCommands['opt']['args']];",
        "  'boxed-opt': {\n    args: Opts;\n    params: [args?: Opts];",
        '  named: {\n    args: Opts;\n    params: [args?: Opts];',
        '    } & { [property: string]: JsonValue | undefined };',
        "params: [args: QmpCommands['dev-add']['args']];",
        'returns: Opts[];',
        'returns: JsonValue;',
        'returns: string;',
        'besides the declared ones,\n   * `args` may hold further properties.',
      ],
      'events.ts': ['  EMPTY: Record<string, never>;', '  FULL: {\n    id: string;\n  };', '  BOXED: Opts;'],
      'index.ts': [
        "export type * from './types.js';",
        "export type { QmpCommands } from './commands.js';",
        "export type { QmpEvents } from './events.js';",
        "export { schema } from './schema.js';",
        "export { table } from './table.js';",
        "export const qemuVersion = 'unknown';",
      ],
      'table.ts': ['export const table: RuntimeTable = {', "ping: { method: 'ping' }"],
      'schema.ts': ['export const schema: SchemaDescriptor = lazyDescriptor(', '{"name":"ping"'],
    },
    check: `
      import type { QmpCommands, QmpEvents } from './index.js';
      const none: QmpCommands['ping']['params'] = [];
      const opt1: QmpCommands['opt']['params'] = [];
      const opt2: QmpCommands['opt']['params'] = [{ a: 'x' }];
      const dev: QmpCommands['dev-add']['params'] = [{ driver: 'e1000', id: 'n', mac: '52:54:00:12:34:56', vectors: 4 }];
      // @ts-expect-error the declared arguments still have their types
      const dev2: QmpCommands['dev-add']['params'] = [{ driver: 1 }];
      // @ts-expect-error 'ping' takes no arguments
      const none2: QmpCommands['ping']['params'] = [{}];
      const ev: QmpEvents['FULL'] = { id: 'x' };
      export { none, opt1, opt2, dev, dev2, none2, ev };
    `,
  },
  {
    name: 'features-and-conditions',
    schema: lines(
      '##',
      '# @old-cmd:',
      '#',
      '# Does old things.',
      '#',
      '# @arg: an argument',
      '#',
      '# @other: another',
      '#',
      '# Features:',
      '#',
      '# @deprecated: Use @new-cmd instead.',
      '#',
      '# @unstable: Might change.',
      '#',
      '# Returns: the answer',
      '#',
      '# Errors:',
      '#     - If it fails, GenericError',
      '#',
      '# Since: 2.0',
      '#',
      '# .. qmp-example::',
      '#',
      '#     -> { "execute": "old-cmd", "arguments": { "arg": "a", "other": "*/" } }',
      '#     <- { "return": { "n": 1 } }',
      '##',
      "{ 'command': 'old-cmd',",
      "  'data': { 'arg': { 'type': 'str', 'features': [ 'deprecated' ] },",
      "            'other': 'str' },",
      "  'returns': 'Answer',",
      "  'features': [ 'deprecated', 'unstable' ], 'if': 'CONFIG_OLD' }",
      '##',
      '# @Answer:',
      '#',
      '# @n: the number',
      '#',
      '# @extra: more',
      '#',
      '# Since: 2.0',
      '##',
      "{ 'struct': 'Answer', 'data': { 'n': 'int8', '*extra': { 'type': 'str', 'if': { 'not': 'CONFIG_OTHER' } } },",
      "  'if': { 'all': [ 'CONFIG_OLD', { 'any': [ 'A', 'B' ] } ] } }",
      '##',
      '# @Level:',
      '#',
      '# @low: low',
      '#',
      '# @high: high',
      '#',
      '# Features:',
      '#',
      '# @deprecated: Member @high is deprecated.',
      '##',
      "{ 'enum': 'Level', 'data': [ 'low', { 'name': 'high', 'features': [ 'deprecated' ] } ] }",
      '##',
      '# @set-level:',
      '#',
      '# @level: the level',
      '##',
      "{ 'command': 'set-level', 'data': { 'level': 'Level' } }",
    ),
    contains: {
      'commands.ts': [
        [
          '  /**',
          '   * Does old things.',
          '   *',
          '   * Only available when QEMU is built with CONFIG_OLD.',
          '   *',
          '   * **Unstable**: Might change.',
          '   *',
          '   * **Example:**',
          '   *',
          '   * ```',
          '   * -> { "execute": "old-cmd", "arguments": { "arg": "a", "other": "*\\/" } }',
          '   * <- { "return": { "n": 1 } }',
          '   * ```',
          '   *',
          '   * @returns the answer',
          '   * @throws',
          '   * - If it fails, GenericError',
          '   * @since 2.0',
          '   * @deprecated Use `new-cmd` instead.',
          '   * @experimental',
          '   */',
          "  'old-cmd': {",
        ].join('\n'),
        '      /**\n       * an argument\n       *\n       * @deprecated Use `new-cmd` instead.\n       */\n      arg: string;',
      ],
      'types.ts': [
        '  /**\n   * more\n   *\n   * Only available when QEMU is built without CONFIG_OTHER.\n   */\n  extra?: string;',
        ' * Only available when QEMU is built with: CONFIG_OLD and (A or B).',
        "  /**\n   * high\n   *\n   * @deprecated Member `high` is deprecated.\n   */\n  | 'high';",
      ],
    },
  },
  {
    name: 'direction',
    schema: lines(
      "{ 'enum': 'Mode', 'data': [ 'on', 'off' ] }",
      "{ 'enum': 'AddrKind', 'data': [ 'inet', 'unix' ] }",
      "{ 'struct': 'Out', 'data': { 'mode': 'Mode', 'modes': [ 'Mode' ], '*io': 'InOut', 'addr': 'Addr' } }",
      "{ 'struct': 'InOut', 'data': { 'mode': 'Mode', 'count': 'int' } }",
      "{ 'struct': 'Inet', 'data': { 'host': 'str', 'mode': 'Mode' } }",
      "{ 'struct': 'Unix', 'data': { 'path': 'str' } }",
      "{ 'union': 'Addr', 'base': { 'type': 'AddrKind' }, 'discriminator': 'type',",
      "  'data': { 'inet': 'Inet', 'unix': 'Unix' } }",
      "{ 'command': 'get', 'returns': 'Out' }",
      "{ 'command': 'set', 'data': { 'mode': 'Mode', 'io': 'InOut', 'addr': 'Addr' }, 'returns': 'InOut' }",
      "{ 'command': 'get-addr', 'returns': 'Addr' }",
      "{ 'pragma': { 'command-returns-exceptions': [ 'get-mode' ] } }",
      "{ 'command': 'get-mode', 'returns': 'Mode' }",
      "{ 'event': 'CHANGED', 'data': { 'mode': 'Mode', 'io': 'InOut' } }",
    ),
    contains: {
      'types.ts': [
        // Output only: open enums, Returned<> for types that also travel to QEMU.
        'export interface Out {\n  mode: Mode | (string & {});\n  modes: (Mode | (string & {}))[];\n  io?: Returned<InOut>;\n  addr: Returned<Addr>;\n}',
        // Both ways: strict.
        'export interface InOut {\n  mode: Mode;',
        'export type Returned<T> =',
      ],
      'commands.ts': [
        'returns: Returned<InOut>;',
        'returns: Mode | (string & {});',
        'returns: Returned<Addr>;',
        // Arguments are strict.
        '      mode: Mode;\n      io: InOut;\n      addr: Addr;',
      ],
      'events.ts': ['    mode: Mode | (string & {});\n    io: Returned<InOut>;'],
    },
    check: `
      import type { InOut, QmpCommands, QmpEvents } from './index.js';
      const out: QmpCommands['get']['returns'] = {
        mode: 'from-the-future', modes: ['on', 'new'], io: { mode: 'new', count: 1 },
        addr: { type: 'inet', host: 'h', mode: 'newer' },
      };
      const io: QmpCommands['set']['returns'] = { mode: 'new', count: 1n };
      const m: QmpCommands['get-mode']['returns'] = 'new';
      const ev: QmpEvents['CHANGED'] = { mode: 'x', io: { mode: 'y', count: 0 } };
      // @ts-expect-error arguments stay strict
      const arg: QmpCommands['set']['args'] = { mode: 'new', io: { mode: 'on', count: 1 }, addr: { type: 'unix', path: 'p' } };
      // @ts-expect-error the strict type stays strict
      const strict: InOut = { mode: 'new', count: 1 };
      function narrow(a: QmpCommands['get-addr']['returns']): string {
        // The discriminator stays literal: narrowing works.
        if (a.type === 'inet') return a.host + a.mode;
        return a.path;
      }
      // @ts-expect-error discriminator values stay as declared
      const badTag: QmpCommands['get-addr']['returns'] = { type: 'tcp', path: 'p' };
      export { out, io, m, ev, arg, strict, narrow, badTag };
    `,
  },
  {
    name: 'free-form-docs',
    schema: lines(
      '##',
      '# = Colours',
      '#',
      '# Everything about colours, */ included.',
      '##',
      '',
      '##',
      '# @Colour:',
      '#',
      '# A colour.',
      '#',
      '# @red: red',
      '##',
      "{ 'enum': 'Colour', 'data': [ 'red' ] }",
      '',
      '##',
      '# = Trailing section',
      '##',
    ),
    contains: {
      'types.ts': [
        '/*\n * # Colours\n *\n * Everything about colours, *\\/ included.\n */\n\n/** A colour. */',
        'export type Colour =',
        '/*\n * # Trailing section\n */\n',
      ],
    },
  },
  {
    name: 'guest-agent',
    protocol: 'qga',
    schema: lines(
      '##',
      '# @guest-shutdown:',
      '#',
      '# Shuts the guest down.',
      '#',
      '# @mode: how',
      '##',
      "{ 'command': 'guest-shutdown', 'data': { '*mode': 'str' }, 'success-response': false }",
      "{ 'pragma': { 'command-returns-exceptions': [ 'guest-info' ] } }",
      '##',
      '# @guest-info:',
      '#',
      '# Information.',
      '#',
      '# Returns: a number',
      '##',
      "{ 'command': 'guest-info', 'returns': 'int', 'if': 'CONFIG_POSIX' }",
    ),
    contains: {
      'commands.ts': [
        'export interface QgaCommands {',
        "params: [args?: QgaCommands['guest-shutdown']['args']];\n    returns: void;",
        "On success, the guest agent sends no reply to this command ('success-response': false):",
        'Only available when the guest agent is built with CONFIG_POSIX.',
        'returns: Int64;',
      ],
      'events.ts': [
        '/** The guest agent (qemu-ga) events: for each event name, the type of its `data`. This schema defines none. */\nexport interface QgaEvents {}',
      ],
      'index.ts': [
        "export type { QgaCommands } from './commands.js';",
        "export type { QgaEvents } from './events.js';",
      ],
      'table.ts': ["'guest-shutdown': { method: 'guestShutdown', noReply: true }"],
    },
    lacks: ['QmpCommands', 'QmpEvents'],
  },
  {
    name: 'rst-docs',
    schema: lines(
      '##',
      '# @Doc:',
      '#',
      '# Uses ``code``, @member refs and `Other` references; an e-mail',
      '# user@example.org stays.  A comment end */ is escaped.',
      '#',
      '# A literal block::',
      '#',
      '#     keep   this',
      '#       exactly',
      '#',
      '# .. note:: Notes are',
      '#    headed.',
      '#',
      '# .. admonition:: Careful',
      '#',
      '#    Admonitions keep their title.',
      '#',
      '# .. qmp-example::',
      '#    :title: A titled one',
      '#',
      '#     -> { "execute": "x" }',
      '#',
      '# .. qmp-example::',
      '#    :annotated:',
      '#',
      '#    Some text, then a literal block::',
      '#',
      '#     <- { "return": {} }',
      '#',
      '# @member: a member described over',
      '#     two lines, with an indented::',
      '#',
      '#         literal',
      '#',
      '# TODO: do something',
      '#',
      '# Since: 9.1',
      '##',
      "{ 'struct': 'Doc', 'data': { 'member': 'str' } }",
    ),
    contains: {
      'types.ts': [
        [
          '/**',
          ' * Uses `code`, `member` refs and `Other` references; an e-mail',
          ' * user@example.org stays.  A comment end *\\/ is escaped.',
          ' *',
          ' * A literal block:',
          ' *',
          ' * ```',
          ' * keep   this',
          ' *   exactly',
          ' * ```',
          ' *',
          ' * **Note:** Notes are',
          ' * headed.',
          ' *',
          ' * **Careful**',
          ' *',
          ' * Admonitions keep their title.',
          ' *',
          ' * **Example: A titled one**',
          ' *',
          ' * ```',
          ' * -> { "execute": "x" }',
          ' * ```',
          ' *',
          ' * **Example:**',
          ' *',
          ' * Some text, then a literal block:',
          ' *',
          ' * ```',
          ' * <- { "return": {} }',
          ' * ```',
          ' *',
          ' * **TODO:** do something',
          ' *',
          ' * @since 9.1',
          ' */',
          'export interface Doc {',
          '  /**',
          '   * a member described over',
          '   * two lines, with an indented:',
          '   *',
          '   * ```',
          '   * literal',
          '   * ```',
          '   */',
          '  member: string;',
        ].join('\n'),
      ],
    },
  },
  {
    name: 'legacy-docs',
    schema: lines(
      '##',
      '# = Section',
      '##',
      '',
      '##',
      '# @legacy-cmd:',
      '#',
      '# Old style.',
      '#',
      '# @arg: the argument, aligned',
      '#       under the text',
      '#',
      '# Returns: - Nothing on success',
      '#          - GenericError otherwise',
      '#',
      '# Note: This is a note.',
      '#',
      '# Since: 1.0',
      '#',
      '# Example:',
      '#',
      '# -> { "execute": "legacy-cmd", "arguments": { "arg": "x" } }',
      '# <- { "return": {} }',
      '##',
      "{ 'command': 'legacy-cmd', 'data': { 'arg': 'str' } }",
    ),
    contains: {
      'commands.ts': [
        [
          '   * Old style.',
          '   *',
          '   * **Note:** This is a note.',
          '   *',
          '   * **Example:**',
          '   *',
          '   * ```',
          '   * -> { "execute": "legacy-cmd", "arguments": { "arg": "x" } }',
          '   * <- { "return": {} }',
          '   * ```',
          '   *',
          '   * @returns',
          '   * - Nothing on success',
          '   * - GenericError otherwise',
          '   * @since 1.0',
        ].join('\n'),
        '      /**\n       * the argument, aligned\n       * under the text\n       */\n      arg: string;',
      ],
    },
  },
];

const ROOT_DIR = mkdtempSync(path.join(tmpdir(), 'qapi-ts-emit-'));
const rendered = new Map<string, OutputFile[]>();
let diagnostics: readonly ts.Diagnostic[] = [];

function caseDir(c: Case): string {
  return path.join(ROOT_DIR, c.name);
}

beforeAll(() => {
  writeFileSync(path.join(ROOT_DIR, 'package.json'), '{ "type": "module" }\n');
  const roots: string[] = [];
  for (const c of CASES) {
    const dir = caseDir(c);
    mkdirSync(dir, { recursive: true });
    const files = renderSdk(load(c.schema), {
      protocol: c.protocol ?? 'qmp',
      source: 'main.json',
      regenerate: 'the test',
      qemuVersion: 'unknown',
      runtime: { relativeDir: path.relative(dir, path.join(ROOT, 'runtime')).split(path.sep).join('/') },
    });
    rendered.set(c.name, files);
    for (const f of files) {
      writeFileSync(path.join(dir, f.name), f.text);
      roots.push(path.join(dir, f.name));
    }
    if (c.check) {
      writeFileSync(path.join(dir, 'check.ts'), c.check);
      roots.push(path.join(dir, 'check.ts'));
    }
  }
  const program = ts.createProgram(roots, {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2023.d.ts'],
    types: [],
    skipLibCheck: true,
    noUnusedLocals: false,
  });
  diagnostics = ts.getPreEmitDiagnostics(program);
}, 120_000);

afterAll(() => rmSync(ROOT_DIR, { recursive: true, force: true }));

function format(d: ts.Diagnostic): string {
  const where = d.file
    ? `${path.relative(ROOT_DIR, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start!).line + 1}: `
    : '';
  return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
}

describe.each(CASES)('emitting $name', (c) => {
  const files = (): Map<string, string> => new Map(rendered.get(c.name)!.map((f) => [f.name, f.text]));

  it('writes the seven files, each with the header', () => {
    const fs = files();
    expect([...fs.keys()]).toEqual([
      'types.ts',
      'commands.ts',
      'events.ts',
      'table.ts',
      'schema.ts',
      'methods.ts',
      'index.ts',
    ]);
    for (const text of fs.values()) {
      expect(
        text.startsWith('// AUTO-GENERATED by qapi-ts from main.json. DO NOT EDIT.\n// Regenerate with: the test\n\n'),
      ).toBe(true);
    }
  });

  it('contains what it should', () => {
    const fs = files();
    for (const [name, snippets] of Object.entries(c.contains ?? {})) {
      for (const s of snippets) expect(fs.get(name), `${name} should contain:\n${s}`).toContain(s);
    }
    for (const s of c.lacks ?? []) for (const [name, text] of fs) expect(text, name).not.toContain(s);
  });

  it('compiles (strict), type-level assertions included', () => {
    const mine = diagnostics.filter((d) => !d.file || d.file.fileName.startsWith(caseDir(c) + path.sep));
    expect(mine.map(format)).toEqual([]);
  });

  it('is formatted as prettier formats it', async () => {
    for (const [name, text] of files()) {
      expect(await prettier.format(text, PRETTIER_OPTIONS), name).toBe(text);
    }
  });

  it('is the same when generated again', () => {
    const again = renderSdk(load(c.schema), {
      protocol: c.protocol ?? 'qmp',
      source: 'main.json',
      regenerate: 'the test',
      qemuVersion: 'unknown',
      runtime: { relativeDir: path.relative(caseDir(c), path.join(ROOT, 'runtime')).split(path.sep).join('/') },
    });
    expect(again).toEqual(rendered.get(c.name));
  });
});

describe('naming', () => {
  it('keeps QAPI names that are identifiers, mangles the rest deterministically', () => {
    expect(tsTypeName('BlockdevOptions')).toBe('BlockdevOptions');
    expect(tsTypeName('__com.redhat_Foo')).toBe('__com_redhat_Foo');
    expect(tsTypeName('Int64')).toBe('Int64_');
    expect(tsTypeName('JsonValue')).toBe('JsonValue_');
    expect(tsTypeName('QmpCommands')).toBe('QmpCommands_');
  });

  it('quotes property keys only when they are not identifiers', () => {
    expect(propertyKey('device')).toBe('device');
    expect(propertyKey('node-name')).toBe("'node-name'");
    expect(propertyKey('default')).toBe('default');
    expect(propertyKey('1x')).toBe("'1x'");
  });

  it('reports two QAPI names that become the same identifier', () => {
    const schema = load(
      lines(
        "{ 'struct': '__org.foo_Bar', 'data': { 'a': 'str' } }",
        "{ 'struct': '__org-foo_Bar', 'data': { 'b': 'str' } }",
      ),
    );
    const render = (): unknown =>
      renderSdk(schema, { protocol: 'qmp', source: 's', regenerate: 'r', qemuVersion: 'v', runtime: 'package' });
    expect(render).toThrow(NameCollisionError);
    expect(render).toThrow(
      "QAPI names '__org.foo_Bar' and '__org-foo_Bar' both become the TypeScript identifier '__org_foo_Bar'",
    );
  });

  it('renames schema types that clash with the names the SDK defines', () => {
    const files = renderSdk(
      load(lines("{ 'struct': 'Returned', 'data': { 'a': 'Int64' } }", "{ 'struct': 'Int64', 'data': {} }")),
      {
        protocol: 'qmp',
        source: 's',
        regenerate: 'r',
        qemuVersion: 'v',
        runtime: 'package',
      },
    );
    const types = files.find((f) => f.name === 'types.ts')!.text;
    expect(types).toContain('export interface Returned_ {\n  a: Int64_;\n}');
    expect(types).toContain('export interface Int64_ {}');
  });
});

describe('rST to Markdown', () => {
  it.each([
    ['plain text', 'Just text.', ['Just text.']],
    ['@refs and ``code``', 'See @foo-bar and ``x = 1``.', ['See `foo-bar` and `x = 1`.']],
    ['e-mail addresses', 'Mail me@example.org.', ['Mail me@example.org.']],
    ['a bare :: paragraph', 'Text\n\n::\n\n  literal\n\nafter', ['Text', '', '```', 'literal', '```', '', 'after']],
    ['a spaced :: ending', 'Look ::\n\n  literal', ['Look', '', '```', 'literal', '```']],
    ['an unknown directive is kept', '.. foo:: bar\n   baz', ['.. foo:: bar', '   baz']],
    [
      'a table',
      '.. table:: T\n   :widths: auto\n\n   ==  ==\n   a   b\n   ==  ==',
      ['**T**', '', '```', '==  ==', 'a   b', '==  ==', '```'],
    ],
  ])('%s', (_name, input, expected) => {
    expect(convertRst(input)).toEqual(expected);
  });

  it('removes the hanging indent of tagged sections, keeping relative indentation', () => {
    expect(removeHangingIndent('first\n    second\n\n    third::\n\n        code')).toEqual([
      'first',
      'second',
      '',
      'third::',
      '',
      '    code',
    ]);
    expect(removeHangingIndent('    - a\n    - b')).toEqual(['- a', '- b']);
  });
});

describe('printer', () => {
  it('breaks what does not fit like prettier', async () => {
    const long = 'VeryLongEnumerationTypeNameForTestingPurposes'.repeat(2);
    const text = printStatements([
      {
        kind: 'interface',
        name: 'X',
        members: [
          {
            key: 'a',
            optional: true,
            type: {
              kind: 'union',
              members: [{ type: { kind: 'ref', text: long } }, { type: { kind: 'ref', text: '(string & {})' } }],
            },
          },
          {
            key: 'b',
            type: {
              kind: 'array',
              element: {
                kind: 'union',
                members: [{ type: { kind: 'ref', text: long } }, { type: { kind: 'ref', text: '(string & {})' } }],
              },
            },
          },
        ],
      },
      {
        kind: 'alias',
        name: 'U',
        type: {
          kind: 'union',
          members: Array.from({ length: 12 }, (_, i) => ({ type: { kind: 'ref', text: `Union$branch${i}` } })),
        },
      },
      {
        kind: 'data',
        name: 'd',
        type: 'D',
        value: {
          list: ['a'.repeat(60), 'b'.repeat(60)],
          objs: [
            { a: 1, b: 2 },
            { a: 3, b: 4 },
          ],
          big: 10n ** 20n,
        },
      },
    ]);
    expect(text.unformatted).toBe(0);
    expect(await prettier.format(text.text, PRETTIER_OPTIONS)).toBe(text.text);
  });

  it('prints what it cannot lay out on long lines, and counts it', () => {
    const long = { kind: 'ref', text: 'X'.repeat(70) } as const;
    const text = printStatements([{ kind: 'alias', name: 'I', type: { kind: 'intersection', parts: [long, long] } }]);
    expect(text).toEqual({ text: `export type I = ${long.text} & ${long.text};\n`, unformatted: 1 });
  });
});
