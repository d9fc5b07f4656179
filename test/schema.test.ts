/**
 * The semantic stages (expr.ts, the model in schema.ts/entities.ts/members.ts,
 * model-json.ts): one small inline schema per rule, read from memory through the
 * parser's readFile option, plus QEMU's real schemas with QEMU's own counts.
 */
import { describe, expect, it } from 'vitest';
import { QapiSemanticError } from '../codegen/errors.js';
import { AlternateType, ArrayType, Command, EnumType, Event, ObjectType } from '../codegen/entities.js';
import { countDefinitions, loadSchema } from '../codegen/frontend.js';
import { schemaToJson } from '../codegen/model-json.js';
import type { Schema } from '../codegen/schema.js';
import type { SchemaVisitor } from '../codegen/modules.js';
import { requireSources, schemaFile, type SchemaKind } from './support/qemu-sources.js';

/** Loads `main.json` (and any other given files) from memory. */
function load(main: string, others: Record<string, string> = {}): Schema {
  const files: Record<string, string> = { 'main.json': main, ...others };
  return loadSchema('main.json', {
    readFile: (p) => {
      const text = files[p];
      if (text === undefined) throw Object.assign(new Error(`no ${p}`), { code: 'ENOENT' });
      return text;
    },
  });
}

/** Schema text from lines, so tests can name the line an error belongs on. */
const lines = (...l: string[]): string => l.join('\n') + '\n';

/** Expects a semantic error at `line` of main.json whose message matches `pattern`. */
function rejects(text: string, line: number, pattern: RegExp): void {
  let error: unknown;
  try {
    load(text);
  } catch (e) {
    error = e;
  }
  expect(error, 'schema should be rejected').toBeInstanceOf(QapiSemanticError);
  const e = error as QapiSemanticError;
  expect(e.msg).toMatch(pattern);
  expect({ file: e.info?.file, line: e.info?.line }).toEqual({ file: 'main.json', line });
}

function lookup<T>(schema: Schema, name: string, cls: abstract new (...args: never[]) => T): T {
  const e = schema.lookupEntity(name);
  expect(e).toBeInstanceOf(cls);
  return e as T;
}

describe('the model', () => {
  it('flattens base members first, each knowing where it is defined', () => {
    const s = load(
      lines(
        "{ 'struct': 'Base', 'data': { 'a': 'int' } }",
        "{ 'struct': 'Sub', 'base': 'Base', 'data': { '*b': ['str'], 'c': 'Base' } }",
      ),
    );
    const sub = lookup(s, 'Sub', ObjectType);
    expect(sub.base).toBe(s.lookupEntity('Base'));
    expect(sub.members.map((m) => [m.name, m.definedIn, m.type.name, m.optional])).toEqual([
      ['a', 'Base', 'int', false],
      ['b', 'Sub', 'strList', true],
      ['c', 'Sub', 'Base', false],
    ]);
    expect(sub.localMembers.map((m) => m.name)).toEqual(['b', 'c']);
    expect(sub.members[2].type).toBe(sub.base);
    const arr = lookup(s, 'strList', ArrayType);
    expect(arr.elementType).toBe(s.lookupEntity('str'));
    expect(arr.module.isBuiltin).toBe(true);
  });

  it('makes implicit types for inline arguments and union bases, with the trigger location', () => {
    const s = load(
      lines(
        "{ 'enum': 'Kind', 'data': [ 'one', 'two' ] }",
        "{ 'struct': 'One', 'data': { 'x': 'int' } }",
        "{ 'union': 'Uni', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind',",
        "  'data': { 'one': 'One' } }",
        "{ 'command': 'do-it', 'data': { 'arg': 'Uni' }, 'returns': ['One'] }",
        "{ 'event': 'DONE', 'data': { '*ok': 'bool' } }",
      ),
    );
    const u = lookup(s, 'Uni', ObjectType);
    expect(u.meta).toBe('union');
    expect(u.base?.name).toBe('q_obj_Uni-base');
    expect(u.base?.isImplicit).toBe(true);
    expect(u.base?.info?.line).toBe(3);
    expect(u.branches?.tagMember.name).toBe('kind');
    // Values without a branch get the empty object type.
    expect(u.branches?.variants.map((v) => [v.name, v.type.name])).toEqual([
      ['one', 'One'],
      ['two', 'q_empty'],
    ]);
    const cmd = lookup(s, 'do-it', Command);
    expect(cmd.argType?.name).toBe('q_obj_do-it-arg');
    expect(cmd.argType?.members[0].type).toBe(u);
    expect(cmd.retType).toBeInstanceOf(ArrayType);
    expect((cmd.retType as ArrayType).elementType.name).toBe('One');
    expect(cmd.retType?.info?.line).toBe(5);
    expect([cmd.gen, cmd.successResponse, cmd.boxed, cmd.allowOob]).toEqual([true, true, false, false]);
    expect(lookup(s, 'DONE', Event).argType?.members[0].optional).toBe(true);
    expect(countDefinitions(s)).toEqual({ commands: 1, events: 1, structs: 1, unions: 1, alternates: 0, enums: 1 });
  });

  it('keeps conditions as trees', () => {
    const s = load(
      lines(
        "{ 'struct': 'Obj', 'data': { 'a': { 'type': 'int', 'if': { 'not': 'CONFIG_B' } } },",
        "  'if': { 'all': [ 'CONFIG_A', { 'any': [ 'X', 'Y' ] } ] } }",
        "{ 'command': 'c', 'data': 'Obj', 'boxed': true }",
      ),
    );
    const st = lookup(s, 'Obj', ObjectType);
    expect(st.ifcond).toEqual({ all: ['CONFIG_A', { any: ['X', 'Y'] }] });
    expect(st.members[0].ifcond).toEqual({ not: 'CONFIG_B' });
    expect(s.lookupEntity('ObjList')).toBeUndefined(); // arrays are defined on first use
  });

  it('visits modules in inclusion order, entities in definition order', () => {
    const s = load(lines("{ 'include': 'sub.json' }", "{ 'struct': 'Main', 'data': { 'a': ['Sub'] } }"), {
      'sub.json': lines("{ 'struct': 'Sub', 'data': {} }"),
    });
    const seen: string[] = [];
    const v: SchemaVisitor = {
      visitModule: (m) => seen.push(`module ${m.name}`),
      visitNeeded: (e) => !(e instanceof ArrayType) || e.info !== undefined,
      visitArrayType: (t) => seen.push(`array ${t.name}`),
      visitObjectType: (t) => seen.push(`object ${t.name}`),
    };
    s.visit(v);
    // SubList goes with its element type; q_empty is predefined.
    expect(seen).toEqual([
      'module ./builtin',
      'object q_empty',
      'module main.json',
      'object Main',
      'module sub.json',
      'object Sub',
      'array SubList',
    ]);
  });

  it('allows a union branch that is itself a union (QEMU 10 rule)', () => {
    const s = load(
      lines(
        "{ 'enum': 'Enm', 'data': [ 'a' ] }",
        "{ 'struct': 'Beta', 'data': { 'e': 'Enm' } }",
        "{ 'struct': 'Alpha', 'data': { 'x': 'int' } }",
        "{ 'union': 'Inner', 'base': 'Beta', 'discriminator': 'e', 'data': { 'a': 'Alpha' } }",
        "{ 'union': 'Outer', 'base': { 'f': 'Enm' }, 'discriminator': 'f', 'data': { 'a': 'Inner' } }",
      ),
    );
    expect(lookup(s, 'Outer', ObjectType).branches?.variants[0].type.name).toBe('Inner');
  });

  it('reports a member clashing with a member of a union branch that is a union', () => {
    rejects(
      lines(
        "{ 'enum': 'Enm', 'data': [ 'a' ] }",
        "{ 'struct': 'Beta', 'data': { 'e': 'Enm' } }",
        "{ 'struct': 'Alpha', 'data': { 'f': 'int' } }",
        "{ 'union': 'Inner', 'base': 'Beta', 'discriminator': 'e', 'data': { 'a': 'Alpha' } }",
        "{ 'union': 'Outer', 'base': { 'f': 'Enm' }, 'discriminator': 'f', 'data': { 'a': 'Inner' } }",
      ),
      5,
      /member 'f'.*clashes/,
    );
  });
});

describe('expression checks', () => {
  it('reports unknown and missing keys', () => {
    rejects(lines("{ 'struct': 'Obj', 'data': {}, 'bogus': true }"), 1, /unknown key 'bogus'/);
    rejects(lines("{ 'union': 'Uni', 'data': {} }"), 1, /lacks keys 'base', 'discriminator'/);
    rejects(lines("{ 'struct': 'Obj', 'enum': 'Enm', 'data': {} }"), 1, /exactly one of the keys/);
  });

  it('enforces naming rules', () => {
    rejects(lines("{ 'event': 'lower', 'data': {} }"), 1, /lowercase/);
    rejects(lines("{ 'command': 'Upper' }"), 1, /uppercase/);
    rejects(lines("{ 'command': 'with_underscore' }"), 1, /uppercase letters nor '_'/);
    rejects(lines("{ 'struct': 'lower', 'data': {} }"), 1, /CamelCase/);
    rejects(lines("{ 'struct': 'FooList', 'data': {} }"), 1, /'List'/);
    rejects(lines("{ 'struct': 'Obj', 'data': { 'q_x': 'int' } }"), 1, /not valid/);
    rejects(lines("{ 'struct': 'Obj', 'data': { 'u': 'int' } }"), 1, /reserved/);
    rejects(lines("{ 'struct': 'Obj', 'data': { 'has-x': 'int' } }"), 1, /reserved/);
    // Prefixes: downstream __RFQDN_ and experimental x-.
    expect(() =>
      load(lines("{ 'struct': '__org.qemu_X-Thing', 'data': { '__com.x_y': 'int', 'x-z': 'int' } }")),
    ).not.toThrow();
    // Enum values may start with a digit.
    expect(lookup(load(lines("{ 'enum': 'Enm', 'data': [ '1st', '2nd' ] }")), 'Enm', EnumType).memberNames()).toEqual([
      '1st',
      '2nd',
    ]);
  });

  it('honours the naming pragmas', () => {
    const pragma = "{ 'pragma': { 'command-name-exceptions': [ 'old_cmd' ], 'member-name-exceptions': [ 'Legacy' ] } }";
    expect(() =>
      load(lines(pragma, "{ 'command': 'old_cmd' }", "{ 'struct': 'Legacy', 'data': { 'Camel_case': 'int' } }")),
    ).not.toThrow();
    rejects(lines(pragma, "{ 'struct': 'Other', 'data': { 'Camel_case': 'int' } }"), 2, /uppercase/);
  });

  it('checks conditions', () => {
    rejects(lines("{ 'struct': 'Obj', 'data': {}, 'if': 'lower' }"), 1, /not a valid identifier/);
    rejects(lines("{ 'struct': 'Obj', 'data': {}, 'if': { 'all': [] } }"), 1, /no operands/);
    rejects(lines("{ 'struct': 'Obj', 'data': {}, 'if': { 'all': ['Alpha'], 'not': 'Beta' } }"), 1, /exactly one/);
    rejects(lines("{ 'struct': 'Obj', 'data': {}, 'if': { 'any': 'Alpha' } }"), 1, /needs an array/);
  });

  it('checks flags', () => {
    rejects(lines("{ 'command': 'c', 'gen': true }"), 1, /'gen' can only be false/);
    rejects(lines("{ 'command': 'c', 'allow-oob': false }"), 1, /'allow-oob' can only be true/);
    rejects(lines("{ 'command': 'c', 'allow-oob': true, 'coroutine': true }"), 1, /cannot be combined/);
  });

  it('reports the first error in source order', () => {
    rejects(lines("{ 'struct': 'Alpha', 'data': { 'x': 'Nope' } }", "{ 'struct': 'b', 'data': {} }"), 2, /CamelCase/);
    rejects(
      lines("{ 'struct': 'Alpha', 'data': { 'x': 'Nope' } }", "{ 'struct': 'Beta', 'data': { 'y': 'Nope' } }"),
      1,
      /unknown type 'Nope'/,
    );
  });
});

describe('schema checks', () => {
  it('reports unknown types and duplicate definitions', () => {
    rejects(lines("{ 'struct': 'Obj', 'data': { 'x': 'Nope' } }"), 1, /member 'x' refers to unknown type 'Nope'/);
    rejects(lines("{ 'struct': 'Obj', 'data': { 'x': ['Nope'] } }"), 1, /unknown type 'Nope'/);
    rejects(
      lines("{ 'enum': 'Obj', 'data': [] }", "{ 'struct': 'Obj', 'data': {} }"),
      2,
      /defined more than once\n.*main.json:1/s,
    );
    rejects(
      lines("{ 'struct': 'Obj', 'data': {} }", "{ 'enum': 'QType', 'data': [] }"),
      2,
      /enum type 'QType' is already defined/,
    );
  });

  it('reports members clashing through the base, also by C name', () => {
    rejects(
      lines(
        "{ 'struct': 'Base', 'data': { 'a': 'int' } }",
        "{ 'struct': 'Sub', 'base': 'Base', 'data': { 'a': 'str' } }",
      ),
      2,
      /member 'a' clashes with member 'a' of type 'Base'/,
    );
    rejects(
      lines(
        "{ 'pragma': { 'member-name-exceptions': [ 'Obj' ] } }",
        "{ 'struct': 'Obj', 'data': { 'a-b': 'int', 'a_b': 'int' } }",
      ),
      2,
      /member 'a_b' clashes with member 'a-b'/,
    );
  });

  it('requires a struct as base, and no type containing itself', () => {
    rejects(
      lines("{ 'enum': 'Enm', 'data': [] }", "{ 'struct': 'Obj', 'base': 'Enm', 'data': {} }"),
      2,
      /must be a struct type/,
    );
    rejects(
      lines("{ 'struct': 'Alpha', 'base': 'Beta', 'data': {} }", "{ 'struct': 'Beta', 'base': 'Alpha', 'data': {} }"),
      1,
      /contains itself/,
    );
  });

  describe('unions', () => {
    const prelude = ["{ 'enum': 'Enm', 'data': [ 'a', 'b' ] }", "{ 'struct': 'Alpha', 'data': { 'x': 'int' } }"];
    it('need the discriminator to be a required, unconditional enum member of the base', () => {
      rejects(
        lines(...prelude, "{ 'union': 'Uni', 'base': { 'k': 'Enm' }, 'discriminator': 'kk', 'data': {} }"),
        3,
        /not a member/,
      );
      rejects(
        lines(...prelude, "{ 'union': 'Uni', 'base': { 'k': 'int' }, 'discriminator': 'k', 'data': {} }"),
        3,
        /must be an enum/,
      );
      rejects(
        lines(...prelude, "{ 'union': 'Uni', 'base': { '*k': 'Enm' }, 'discriminator': 'k', 'data': {} }"),
        3,
        /optional/,
      );
      rejects(
        lines(
          ...prelude,
          "{ 'union': 'Uni', 'base': { 'k': { 'type': 'Enm', 'if': 'C' } }, 'discriminator': 'k', 'data': {} }",
        ),
        3,
        /conditional/,
      );
      rejects(
        lines(
          ...prelude,
          "{ 'struct': 'Beta', 'data': { '*k': 'Enm' } }",
          "{ 'union': 'Uni', 'base': 'Beta', 'discriminator': 'k', 'data': {} }",
        ),
        4,
        /of base type 'Beta' may not be optional/,
      );
    });

    it('need branches named after values, of object type', () => {
      rejects(
        lines(...prelude, "{ 'union': 'Uni', 'base': { 'k': 'Enm' }, 'discriminator': 'k', 'data': { 'c': 'Alpha' } }"),
        3,
        /'c' is not a value/,
      );
      rejects(
        lines(...prelude, "{ 'union': 'Uni', 'base': { 'k': 'Enm' }, 'discriminator': 'k', 'data': { 'a': 'int' } }"),
        3,
        /cannot be built-in/,
      );
      rejects(
        lines(
          "{ 'enum': 'Enm', 'data': [] }",
          "{ 'union': 'Uni', 'base': { 'k': 'Enm' }, 'discriminator': 'k', 'data': {} }",
        ),
        2,
        /no branches/,
      );
      rejects(
        lines(
          ...prelude,
          "{ 'union': 'Uni', 'base': { 'k': 'Enm', 'x': 'str' }, 'discriminator': 'k', 'data': { 'a': 'Alpha' } }",
        ),
        3,
        /clashes/,
      );
    });
  });

  describe('alternates', () => {
    it('need alternatives a JSON parser can tell apart', () => {
      rejects(
        lines("{ 'alternate': 'Alt', 'data': { 'i': 'int', 'n': 'number' } }"),
        1,
        /'n' is indistinguishable from 'i'/,
      );
      rejects(lines("{ 'alternate': 'Alt', 'data': { 'b': 'bool', 's': 'str' } }"), 1, /indistinguishable/);
      rejects(
        lines(
          "{ 'enum': 'OnOff', 'data': [ 'on', 'off' ] }",
          "{ 'alternate': 'Alt', 'data': { 'b': 'bool', 'e': 'OnOff' } }",
        ),
        2,
        /indistinguishable/,
      );
      rejects(lines("{ 'alternate': 'Alt', 'data': { 'a': 'any' } }"), 1, /cannot be built-in type 'any'/);
      rejects(lines("{ 'alternate': 'Alt', 'data': {} }"), 1, /may not be empty/);
    });

    it('accept an enum that cannot look like a number or boolean next to them', () => {
      const s = load(
        lines(
          "{ 'enum': 'Mode', 'data': [ 'auto', 'manual' ] }",
          "{ 'struct': 'Obj', 'data': {} }",
          "{ 'alternate': 'Alt', 'data': { 'm': 'Mode', 'n': 'int', 'b': 'bool', 's': 'Obj', 'l': ['int'], 'z': 'null' } }",
        ),
      );
      const alt = lookup(s, 'Alt', AlternateType);
      expect(alt.alternatives.tagMember.type.name).toBe('QType');
      expect(alt.alternatives.variants.map((v) => v.type.alternateQType())).toEqual([
        'qstring',
        'qnum',
        'qbool',
        'qdict',
        'qlist',
        'qnull',
      ]);
    });
  });

  describe('commands and events', () => {
    const prelude = [
      "{ 'enum': 'Enm', 'data': [ 'a' ] }",
      "{ 'struct': 'Beta', 'data': { 'e': 'Enm' } }",
      "{ 'union': 'Uni', 'base': 'Beta', 'discriminator': 'e', 'data': {} }",
    ];
    it('follow the boxed rules', () => {
      rejects(lines("{ 'command': 'c', 'boxed': true }"), 1, /'boxed': true needs 'data'/);
      rejects(lines("{ 'command': 'c', 'data': { 'a': 'int' }, 'boxed': true }"), 1, /'data' needs a type name/);
      rejects(lines(...prelude, "{ 'command': 'c', 'data': 'Uni' }"), 4, /only with 'boxed': true/);
      rejects(lines(...prelude, "{ 'event': 'EV', 'data': 'Uni' }"), 4, /only with 'boxed': true/);
      rejects(
        lines("{ 'command': 'c', 'data': { 'a': { 'type': 'int', 'if': 'X' } } }"),
        1,
        /conditions need 'boxed': true/,
      );
      rejects(lines("{ 'command': 'c', 'data': 'int' }"), 1, /'data' cannot be built-in type 'int'/);
      const s = load(lines(...prelude, "{ 'command': 'c', 'data': 'Uni', 'boxed': true }"));
      expect(lookup(s, 'c', Command).argType?.isUnion).toBe(true);
    });

    it('return objects unless excepted by pragma', () => {
      rejects(lines("{ 'command': 'c', 'returns': 'int' }"), 1, /'returns' cannot be built-in type 'int'/);
      rejects(lines("{ 'command': 'c', 'returns': ['str'] }"), 1, /'returns' cannot be array type/);
      const s = load(
        lines("{ 'pragma': { 'command-returns-exceptions': [ 'c' ] } }", "{ 'command': 'c', 'returns': 'int' }"),
      );
      expect(lookup(s, 'c', Command).retType?.name).toBe('int');
    });
  });

  describe('features', () => {
    it('reject special features on types, allow them elsewhere', () => {
      rejects(
        lines("{ 'struct': 'Obj', 'data': {}, 'features': [ 'deprecated' ] }"),
        1,
        /types cannot have feature 'deprecated'/,
      );
      const s = load(
        lines(
          "{ 'enum': 'Enm', 'data': [ { 'name': 'v', 'features': [ 'deprecated' ] } ] }",
          "{ 'struct': 'Obj', 'data': { 'm': { 'type': 'Enm', 'features': [ 'unstable' ] } } }",
          "{ 'command': 'c', 'features': [ 'deprecated', { 'name': 'mine', 'if': 'X' } ] }",
        ),
      );
      const c = lookup(s, 'c', Command);
      expect(c.features.map((f) => [f.name, f.isSpecial, f.ifcond])).toEqual([
        ['deprecated', true, undefined],
        ['mine', false, 'X'],
      ]);
      expect(s.features().map((f) => f.name)).toEqual(['deprecated', 'unstable', 'mine']);
    });

    it('reject duplicates and bad names', () => {
      rejects(lines("{ 'command': 'c', 'features': [ 'f', 'f' ] }"), 1, /feature 'f' clashes/);
      rejects(lines("{ 'command': 'c', 'features': [ 'Big' ] }"), 1, /uppercase/);
      rejects(lines("{ 'command': 'c', 'features': 'f' }"), 1, /'features' needs an array/);
    });

    it('allow at most 64 names per schema, the two special ones included', () => {
      const cmds = (n: number): string[] =>
        Array.from({ length: n }, (_, i) => `{ 'command': 'c${i}', 'features': [ 'f${i}' ] }`);
      expect(load(lines(...cmds(62))).features()).toHaveLength(64);
      rejects(lines(...cmds(63)), 63, /at most 64 features/);
    });
  });
});

describe('doc comments', () => {
  const doc = (...body: string[]): string[] => ['##', ...body.map((l) => (l ? `# ${l}` : '#')), '##'];

  it('are connected to definitions, members and features', () => {
    const s = load(
      lines(
        ...doc('@Obj:', '', 'A struct.', '', '@a: the a', '', 'Features:', '', '@unstable: not yet', '', 'Since: 1.0'),
        "{ 'struct': 'Obj', 'data': { 'a': { 'type': 'int', 'features': [ 'unstable' ] } } }",
      ),
    );
    const st = lookup(s, 'Obj', ObjectType);
    expect(st.doc?.symbol).toBe('Obj');
    expect(st.doc?.body.text).toBe('A struct.');
    expect(st.doc?.since?.text).toBe('1.0');
    expect(st.members[0].doc?.text).toBe('the a');
    expect(st.members[0].features[0].doc?.text).toBe('not yet');
  });

  it('document command arguments through the implicit argument type', () => {
    const s = load(
      lines(
        ...doc('@c:', '', '@x: the x', '', 'Returns: stuff'),
        "{ 'command': 'c', 'data': { 'x': 'int' }, 'returns': 'Obj' }",
        "{ 'struct': 'Obj', 'data': {} }",
      ),
    );
    expect(lookup(s, 'c', Command).argType?.members[0].doc?.text).toBe('the x');
  });

  it('must describe every member, and only existing ones', () => {
    rejects(
      lines(...doc('@Obj:'), "{ 'struct': 'Obj', 'data': { 'a': 'int' } }"),
      4,
      /member 'a' has no documentation/,
    );
    rejects(
      lines(...doc('@Enm:', '', '@v: a value'), "{ 'enum': 'Enm', 'data': [ 'v', 'w' ] }"),
      6,
      /value 'w' has no documentation/,
    );
    rejects(
      lines(...doc('@Obj:', '', '@b: no such'), "{ 'struct': 'Obj', 'data': {} }"),
      4,
      /documented member 'b' does not exist/,
    );
    rejects(lines(...doc('@c:'), "{ 'command': 'c', 'features': [ 'f' ] }"), 4, /feature 'f' has no documentation/);
  });

  it('may leave members of excepted definitions undocumented', () => {
    const s = load(
      lines(
        "{ 'pragma': { 'documentation-exceptions': [ 'Obj' ] } }",
        ...doc('@Obj:'),
        "{ 'struct': 'Obj', 'data': { 'a': 'int' } }",
      ),
    );
    expect(lookup(s, 'Obj', ObjectType).members[0].doc?.text).toBe('');
  });

  it('must be for the definition that follows, and may be required', () => {
    rejects(lines(...doc('@Other:'), "{ 'struct': 'Obj', 'data': {} }"), 4, /belongs to 'Other'/);
    rejects(
      lines("{ 'pragma': { 'doc-required': true } }", "{ 'struct': 'Obj', 'data': {} }"),
      2,
      /documentation comment is required/,
    );
  });
});

describe('the JSON IR', () => {
  it('is plain, deterministic JSON with resolved names and member origins', () => {
    const text = lines(
      "{ 'struct': 'Base', 'data': { 'a': 'int' } }",
      "{ 'struct': 'Sub', 'base': 'Base', 'data': { '*b': ['str'] }, 'if': 'CONFIG_X' }",
      "{ 'command': 'c', 'data': { 's': 'Sub' }, 'returns': 'Sub', 'allow-oob': true }",
    );
    const ir = schemaToJson(load(text));
    expect(JSON.stringify(ir)).toBe(JSON.stringify(schemaToJson(load(text))));
    expect(JSON.parse(JSON.stringify(ir))).toEqual(ir);
    const sub = ir.entities.find((e) => e.name === 'Sub');
    expect(sub).toMatchObject({
      kind: 'object',
      meta: 'struct',
      module: 'main.json',
      location: { file: 'main.json', line: 2 },
      implicit: false,
      if: 'CONFIG_X',
      base: 'Base',
      members: [
        { name: 'a', type: 'int', optional: false, definedIn: 'Base', features: [] },
        { name: 'b', type: 'strList', optional: true, definedIn: 'Sub', features: [] },
      ],
    });
    expect(ir.entities.find((e) => e.name === 'c')).toMatchObject({
      kind: 'command',
      argType: 'q_obj_c-arg',
      retType: 'Sub',
      allowOob: true,
    });
    expect(ir.entities.find((e) => e.name === 'intList')).toMatchObject({
      kind: 'array',
      elementType: 'int',
      location: null,
    });
    expect(ir.modules.map((m) => m.name)).toEqual(['./builtin', 'main.json']);
  });
});

// commands/events/structs/unions/alternates/enums, as QEMU's generator counts them.
const REAL_COUNTS: [string, SchemaKind, string][] = [
  ['7.2', 'qmp', '220/52/418/39/6/155'],
  ['7.2', 'qga', '42/0/32/3/1/7'],
  ['10.0', 'qmp', '240/56/468/43/6/181'],
  ['10.2', 'qmp', '244/57/479/43/6/182'],
  ['10.2', 'qga', '44/0/34/3/2/8'],
];

describe("QEMU's real schemas", () => {
  it.each(REAL_COUNTS)('%s %s has QEMU’s definition counts', (version, kind, want) => {
    requireSources(version);
    const s = loadSchema(schemaFile(version, kind), { dialect: 'auto' });
    expect(Object.values(countDefinitions(s)).join('/')).toBe(want);
  });

  it.each(['7.2', '10.0', '10.2'])('%s storage daemon schema loads', (version) => {
    requireSources(version);
    expect(() => loadSchema(schemaFile(version, 'qsd'), { dialect: 'auto' })).not.toThrow();
  });
});
