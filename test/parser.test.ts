/**
 * The lexer and parser stage on small inline schemas (read from memory), and
 * on QEMU's real schemas when the fetched sources are there.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ParseOptions, QapiDict, QapiValue } from '../codegen/expressions.js';
import { DocArgSection, type QapiDoc } from '../codegen/doc.js';
import { QapiError, QapiParseError, QapiSemanticError, QapiSourceError } from '../codegen/errors.js';
import { tokenize } from '../codegen/lexer.js';
import { parseSchema, type SchemaParseResult } from '../codegen/parser.js';
import { SourceInfo } from '../codegen/source.js';

/** A readFile over an in-memory file map; missing files fail like fs does. */
function memory(files: Record<string, string>): (p: string) => string {
  return (p) => {
    const text = files[p];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return text;
  };
}

function parse(text: string, options: ParseOptions = {}, more: Record<string, string> = {}): SchemaParseResult {
  return parseSchema('main.json', { readFile: memory({ 'main.json': text, ...more }), ...options });
}

/** The error parse() throws, as `file:line[:col]: class`, plus the error itself. */
function failure(text: string, options: ParseOptions = {}, more: Record<string, string> = {}) {
  try {
    parse(text, options, more);
  } catch (e) {
    if (!(e instanceof QapiSourceError)) throw e;
    return { at: `${e.location} ${e.name}`, error: e };
  }
  throw new Error('expected the schema to be rejected');
}

/** Plain objects for easy comparison of parsed values. */
function plain(v: QapiValue): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

function only(text: string, options?: ParseOptions): QapiDict {
  const r = parse(text, options);
  expect(r.exprs).toHaveLength(1);
  return r.exprs[0].expr;
}

describe('lexer', () => {
  it('tokenizes with lines and columns', () => {
    const tokens = tokenize("{ 'a': [ true, false ] } # c\n  ## d\n", new SourceInfo('x.json', undefined));
    expect(tokens.map((t) => [t.kind, t.value, t.line, t.col])).toEqual([
      ['{', undefined, 1, 1],
      ['string', 'a', 1, 3],
      [':', undefined, 1, 6],
      ['[', undefined, 1, 8],
      ['bool', true, 1, 10],
      [',', undefined, 1, 14],
      ['bool', false, 1, 16],
      [']', undefined, 1, 22],
      ['}', undefined, 1, 24],
      ['comment', '# c', 1, 26],
      ['comment', '## d', 2, 3],
      ['eof', undefined, 2, 7],
    ]);
  });
});

describe('expressions', () => {
  it('keeps key order, nesting, strings and booleans', () => {
    const e = only("{ 'struct': 'Foo', 'data': { '2': 'int', '1': ['str'] }, 'x': true, 'y': false, 'z': [] }");
    expect([...e.keys()]).toEqual(['struct', 'data', 'x', 'y', 'z']);
    expect([...(e.get('data') as QapiDict).keys()]).toEqual(['2', '1']);
    expect(plain(e)).toEqual({ struct: 'Foo', data: { '2': 'int', '1': ['str'] }, x: true, y: false, z: [] });
  });

  it('accepts only \\\\ as an escape', () => {
    expect(only("{ 'a': 'back\\\\slash' }").get('a')).toBe('back\\slash');
    expect(failure("{ 'a': 'x\\n' }").at).toBe('main.json:1:8 QapiParseError');
    expect(failure("{ 'a': 'x\\'' }").at).toBe('main.json:1:8 QapiParseError');
  });

  it('rejects unprintable and non-ASCII characters in strings, at the opening quote', () => {
    expect(failure("{ 'a':\n  'caf\u00e9' }").at).toBe('main.json:2:3 QapiParseError');
    expect(failure("{ 'a': 'x\x7f' }").at).toBe('main.json:1:8 QapiParseError');
    expect(failure("{ 'a': 'x\ty' }").at).toBe('main.json:1:8 QapiParseError');
    expect(failure("{ 'a': 'unterminated }\n").at).toBe('main.json:1:8 QapiParseError');
  });

  it('skips comments, blank lines and CR LF line ends', () => {
    const r = parse("# a comment\r\n\r\n{ 'enum': 'E', # trailing\r\n  'data': [] }\r\n{ 'command': 'c' }");
    expect(r.exprs.map((e) => [e.expr.get('enum') ?? e.expr.get('command'), e.info.line])).toEqual([
      ['E', 3],
      ['c', 5],
    ]);
  });

  it('reports stray tokens with line and column', () => {
    const f = failure("{ 'a': 'b',\n  'c': null }");
    expect(f.at).toBe('main.json:2:8 QapiParseError');
    expect(f.error.msg).toContain('null');
    expect(failure("{ 'a': 1 }").at).toBe('main.json:1:8 QapiParseError');
    expect(failure('{ "a": "b" }').at).toBe('main.json:1:3 QapiParseError');
  });

  it("computes columns after tabs with QEMU's arithmetic", () => {
    // QEMU maps the column c to ((c + 7) mod 8) + 1 at a tab.
    expect(failure("\t\t{ 'a': x }").at).toBe('main.json:1:8 QapiParseError');
    expect(failure("{ 'a': 'b',\n          \t'c': x }").at).toBe('main.json:2:8 QapiParseError');
  });

  it('rejects duplicate keys at the value', () => {
    expect(failure("{ 'a': 'b',\n  'a': 'c' }").at).toBe('main.json:2:8 QapiParseError');
  });

  it('reports grammar errors at the offending token', () => {
    expect(failure("{ 'a' 'b' }").at).toBe('main.json:1:7 QapiParseError');
    expect(failure("{ 'a': 'b' 'c': 'd' }").at).toBe('main.json:1:12 QapiParseError');
    expect(failure("{ 'a': 'b', }").at).toBe('main.json:1:13 QapiParseError');
    expect(failure("{ 'a': [ 'b', ] }").at).toBe('main.json:1:15 QapiParseError');
    expect(failure("{ 'a': [ 'b' 'c' ] }").at).toBe('main.json:1:14 QapiParseError');
    expect(failure("{ 'a': ['b'").at).toBe('main.json:1:12 QapiParseError');
  });

  it('requires top-level objects', () => {
    expect(failure("{ 'a': 'b' }\n['c']").at).toBe('main.json:2 QapiSemanticError');
  });

  it("records each expression's first line and the column of its brace", () => {
    const r = parse("\n   { 'struct': 'A',\n     'data': {} }\n{ 'struct': 'B' }");
    expect(r.exprs.map((e) => e.info.loc())).toEqual(['main.json:2:4', 'main.json:4:1']);
  });

  it('accepts an empty file', () => {
    expect(parse('').exprs).toEqual([]);
  });
});

describe('includes', () => {
  it('resolves paths relative to the including file and skips repeats silently', () => {
    const r = parse(
      "{ 'include': 'sub/a.json' }\n{ 'include': 'sub/b.json' }\n{ 'struct': 'M' }",
      {},
      {
        'sub/a.json': "{ 'include': 'b.json' }\n{ 'struct': 'A' }",
        'sub/b.json': "\n{ 'struct': 'B' }",
      },
    );
    const show = (e: (typeof r.exprs)[number]) =>
      e.expr.has('include')
        ? `include ${String(e.expr.get('include'))}`
        : `${String(e.expr.get('struct'))}@${e.info.file}:${e.info.line}`;
    // Directives stay in the result, a repeat too, followed by what they brought in.
    expect(r.exprs.map(show)).toEqual([
      'include sub/a.json',
      'include sub/b.json',
      'B@sub/b.json:2',
      'A@sub/a.json:2',
      'include sub/b.json',
      'M@main.json:3',
    ]);
    expect(r.files).toEqual(['main.json', 'sub/a.json', 'sub/b.json']);
    const b = r.exprs[2].info;
    expect(b.context()).toEqual(['In file included from main.json:1:', 'In file included from sub/a.json:1:']);
  });

  it('rejects an inclusion loop at the include that closes it', () => {
    const f = failure("{ 'include': 'a.json' }", {}, { 'a.json': "\n{ 'include': 'main.json' }" });
    expect(f.at).toBe('a.json:2 QapiSemanticError');
    expect(failure("{ 'include': 'main.json' }").at).toBe('main.json:1 QapiSemanticError');
  });

  it('reports a missing include at the include, and a missing main file', () => {
    expect(failure("\n{ 'include': 'nope.json' }").at).toBe('main.json:2 QapiSemanticError');
    expect(() => parseSchema('absent.json', { readFile: memory({}) })).toThrow(QapiError);
    expect(() => parseSchema('absent.json', { readFile: memory({}) })).toThrow(/absent\.json/);
  });

  it('checks the directive itself', () => {
    expect(failure("{ 'include': 'a.json', 'x': 'y' }").at).toBe('main.json:1 QapiSemanticError');
    expect(failure("{ 'include': ['a.json'] }").at).toBe('main.json:1 QapiSemanticError');
  });
});

describe('pragmas', () => {
  it('sets the schema-wide pragma, shared with included files', () => {
    const r = parse(
      "{ 'pragma': { 'doc-required': true, 'command-name-exceptions': ['a_b'] } }\n{ 'include': 'i.json' }",
      {},
      {
        'i.json':
          "{ 'pragma': { 'command-returns-exceptions': ['r'], 'documentation-exceptions': ['D'], 'member-name-exceptions': ['M'] } }\n{ 'struct': 'S' }",
      },
    );
    expect(r.exprs).toHaveLength(2);
    expect(r.exprs[1].info.pragma).toEqual({
      docRequired: true,
      commandNameExceptions: ['a_b'],
      commandReturnsExceptions: ['r'],
      documentationExceptions: ['D'],
      memberNameExceptions: ['M'],
    });
  });

  it('rejects unknown names and bad values', () => {
    expect(failure("{ 'pragma': { 'no-such': true } }").at).toBe('main.json:1 QapiSemanticError');
    expect(failure("\n{ 'pragma': { 'doc-required': 'yes' } }").at).toBe('main.json:2 QapiSemanticError');
    expect(failure("{ 'pragma': { 'command-name-exceptions': 'x' } }").at).toBe('main.json:1 QapiSemanticError');
    expect(failure("{ 'pragma': { 'member-name-exceptions': [true] } }").at).toBe('main.json:1 QapiSemanticError');
    expect(failure("{ 'pragma': ['doc-required'] }").at).toBe('main.json:1 QapiSemanticError');
    expect(failure("{ 'pragma': {}, 'x': 'y' }").at).toBe('main.json:1 QapiSemanticError');
  });
});

function sections(doc: QapiDoc): string[][] {
  return doc.allSections.map((s) => [s instanceof DocArgSection ? `${s.kind}:${s.name}` : (s.tag ?? s.kind), s.text]);
}

describe('doc comments, modern dialect (QEMU 10.2)', () => {
  const schema = `##
# = Free-form heading
#
# Some text.
##

##
# @Foo:
#
# Body text
# on two lines.
#
# @a: first member,
#     continued
#
# @b:
#     described below
#
# Features:
#
# @deprecated: do not use
#
# Returns: something
#
# Errors:
#     - if it breaks
#
# Since: 1.0
#
# .. qmp-example::
#
#    -> { "execute": "foo", "arguments": { "a": 1, "b": "a rather long value" } }
#    <- { "return": {} }
#
# TODO: later
##
{ 'command': 'Foo' }
`;

  it('builds members, features and sections, keeping the text raw', () => {
    const r = parse(schema);
    expect(r.dialect).toBe('modern');
    expect(r.docs).toHaveLength(2);
    const [free, doc] = r.docs;
    expect(free.symbol).toBeUndefined();
    expect(free.body.text).toBe('= Free-form heading\n\nSome text.');
    expect(r.exprs[0].doc).toBe(doc);
    expect(doc.symbol).toBe('Foo');
    expect(doc.info.line).toBe(7);
    expect(sections(doc)).toEqual([
      ['plain', 'Body text\non two lines.'],
      ['member:a', 'first member,\n    continued'],
      ['member:b', '    described below'],
      ['feature:deprecated', 'do not use'],
      ['Returns', 'something'],
      ['Errors', '    - if it breaks'],
      ['Since', '1.0'],
      [
        'plain',
        '.. qmp-example::\n\n   -> { "execute": "foo", "arguments": { "a": 1, "b": "a rather long value" } }\n   <- { "return": {} }',
      ],
      ['TODO', 'later'],
    ]);
    expect(doc.args.get('a')?.info.line).toBe(13);
    expect(doc.returns?.kind).toBe('returns');
    expect(doc.errors?.kind).toBe('errors');
    expect(doc.since?.text).toBe('1.0');
  });

  it('enforces 70 columns, except for URLs and literal blocks', () => {
    const line = (n: number) => '# ' + 'x'.repeat(n - 2);
    expect(parse(`##\n${line(70)}\n##`).docs).toHaveLength(1);
    expect(failure(`##\n#\n${line(71)}\n##`).at).toBe('main.json:3:1 QapiParseError');
    expect(parse(`##\n#   https://example.org/${'x'.repeat(80)}\n##`).docs).toHaveLength(1);
    expect(parse(`##\n# Example:\n#\n# ::\n#\n#   ${'x'.repeat(80)}\n##`).docs).toHaveLength(1);
    expect(failure(`##\n# Example::\n#\n#   ${'x'.repeat(80)}\n##`).at).toBe('main.json:4:1 QapiParseError');
    // Outside literal blocks, the auto dialect tolerates what QEMU 10.0 did.
    const r = parse(`##\n${line(71)}\n##`, { dialect: 'auto' });
    expect([r.dialect, r.rules.lineFormat]).toEqual(['modern', false]);
  });

  it('wants two spaces between sentences, pointing at the single space', () => {
    expect(failure('##\n# One. Two.\n##').at).toBe('main.json:2:7 QapiParseError');
    expect(parse('##\n# One.  Two, e.g. This one.\n# 1. Item\n##').docs).toHaveLength(1);
  });

  it('rejects the sections QEMU 10 dropped', () => {
    expect(failure('##\n# @Foo:\n#\n# Note: x\n##\n').at).toBe('main.json:4:1 QapiParseError');
    expect(failure('##\n# @Foo:\n#\n# Examples:\n# x\n##\n').at).toBe('main.json:4:1 QapiParseError');
  });

  it('checks the structure', () => {
    expect(failure("##\n# @Foo:\n##\n{ 'include': 'x.json' }").at).toBe('main.json:1 QapiSemanticError');
    expect(failure("##\n# @Foo:\n##\n{ 'pragma': {} }").at).toBe('main.json:1 QapiSemanticError');
    expect(failure('##\n# @Foo:\n##\n').at).toBe('main.json:1 QapiSemanticError');
    expect(failure('##\n# @Foo:\n##\n##\n# text\n##\n').at).toBe('main.json:1 QapiSemanticError');
    expect(failure("##\n# free\n##\n{ 'struct': 'Foo' }").at).toBe('main.json:1 QapiSemanticError');
    expect(failure("##\n# @Foo:\n{ 'struct': 'Foo' }").at).toBe('main.json:3:1 QapiParseError');
    expect(failure('## x\n##').at).toBe('main.json:1:1 QapiParseError');
    expect(failure('##\n#x\n##').at).toBe('main.json:2:1 QapiParseError');
    expect(failure('##\n# @Foo\n##').at).toBe('main.json:2:1 QapiParseError');
    expect(failure('##\n# @:\n##').at).toBe('main.json:2:1 QapiParseError');
    expect(failure('##\n# text\n# @a: x\n##').at).toBe('main.json:3:1 QapiParseError');
    expect(failure('##\n# @Foo:\n# Since: 1\n# @a: x\n##\n').at).toBe('main.json:4:1 QapiParseError');
    expect(failure('##\n# @Foo:\n# @a: x\n#     y\n#   z\n##\n').at).toBe('main.json:5:1 QapiParseError');
    expect(failure('##\n# @Foo:\n# Features:\n# text\n##\n').at).toBe('main.json:4:1 QapiParseError');
    // Errors that QEMU raises from its doc model are semantic, at the section's line.
    expect(failure('##\n# @Foo:\n# @a: x\n# @a: y\n##\n').at).toBe('main.json:4 QapiSemanticError');
    expect(failure('##\n# @Foo:\n# Since: 1\n# Since: 2\n##\n').at).toBe('main.json:4 QapiSemanticError');
    expect(failure('##\n# @Foo:\n#\n# @a:\n##\n').at).toBe('main.json:4 QapiSemanticError');
  });
});

describe('doc comments, legacy dialect (QEMU 7.2)', () => {
  const schema = `##
# = Heading
# Intro text.
# == Subheading
# More.
##

##
# @Foo:
#
# Body.
#
# @a: first member,
#     continued
#
# Features:
# @deprecated: old
#
# Returns: something
#          indented
#
# Note: a remark
#
# Example:
#
# -> { "execute": "Foo" }
#
# Since: 2.0
##
{ 'command': 'Foo' }
`;

  it('builds the sections, tags kept, indentation removed', () => {
    const r = parse(schema, { dialect: 'legacy' });
    expect(r.dialect).toBe('legacy');
    // A heading after some text starts a new free-form doc, with the block's first line.
    expect(r.docs.map((d) => [d.symbol, d.info.line, d.body.text])).toEqual([
      [undefined, 1, '= Heading\nIntro text.'],
      [undefined, 1, '== Subheading\nMore.'],
      ['Foo', 8, 'Body.'],
    ]);
    const doc = r.docs[2];
    expect(doc.dialect).toBe('legacy');
    expect(sections(doc)).toEqual([
      ['plain', 'Body.'],
      ['member:a', 'first member,\ncontinued'],
      ['feature:deprecated', 'old'],
      ['Returns', 'something\nindented'],
      ['Note', 'a remark'],
      ['Example', '-> { "execute": "Foo" }'],
      ['Since', '2.0'],
    ]);
    expect(doc.sections.map((s) => s.kind)).toEqual(['returns', 'tagged', 'tagged', 'since']);
  });

  it('raises its errors at the current line', () => {
    const legacy = { dialect: 'legacy' } as const;
    expect(failure('##\n# @Foo:\n# @a:\n# @b: x\n##\n', legacy).at).toBe('main.json:4:1 QapiParseError');
    expect(failure('##\n# @Foo:\n# Since: 1\n# Since: 2\n##\n', legacy).at).toBe('main.json:4:1 QapiParseError');
    expect(failure('##\n# @Foo:\n# @a: x\n#     y\n#    z\n##\n', legacy).at).toBe('main.json:5:1 QapiParseError');
    expect(failure('##\n# @Foo:\n# Note: x\n# @a: y\n##\n', legacy).at).toBe('main.json:4:1 QapiParseError');
    expect(failure('##\n# @Foo:\n# = Heading\n##\n', legacy).at).toBe('main.json:3:1 QapiParseError');
    expect(failure('##\n# @Foo:\n# Returns:\n##\n', legacy).at).toBe('main.json:4:1 QapiParseError');
  });

  it('has no line-format rules', () => {
    expect(parse(`##\n# ${'x'.repeat(100)}.  One. Two.\n##`, { dialect: 'legacy' }).docs).toHaveLength(1);
  });

  it("is what 'auto' picks for legacy syntax, even when only an included file shows it", () => {
    expect(parse(schema, { dialect: 'auto' }).dialect).toBe('legacy');
    const r = parse(
      "{ 'include': 'i.json' }",
      { dialect: 'auto' },
      { 'i.json': "##\n# @Foo:\n#\n# Example:\n# -> x\n##\n{ 'command': 'Foo' }" },
    );
    expect(r.dialect).toBe('legacy');
    expect(r.docs[0].sections[0].tag).toBe('Example');
  });

  it("leaves 'auto' modern, with its error, for a modern schema", () => {
    expect(parse("##\n# @Foo:\n#\n# .. note:: x\n##\n{ 'command': 'Foo' }", { dialect: 'auto' }).dialect).toBe(
      'modern',
    );
    expect(failure('##\n# @Foo:\n# @a: x\n# @a: y\n##\n', { dialect: 'auto' }).error).toBeInstanceOf(QapiSemanticError);
    expect(
      failure('##\n# One. Two.\n# ' + 'x'.repeat(80) + '\n#\n# @a: x\n##', { dialect: 'auto' }).error,
    ).toBeInstanceOf(QapiParseError);
  });
});

describe("QEMU's real schemas", () => {
  const cache = process.env.QAPI_TS_CACHE ?? path.resolve(import.meta.dirname, '../.cache/qemu');
  const present = existsSync(path.join(cache, '10.2'));
  const cases = ['7.2', '10.0', '10.2'].flatMap((v) =>
    ['qapi/qapi-schema.json', 'qga/qapi-schema.json', 'storage-daemon/qapi/qapi-schema.json'].map(
      (f) => [v, f] as const,
    ),
  );
  it.skipIf(!present)(
    present ? 'all 9 parse with the auto dialect' : `skipped: no QEMU sources in ${cache} (run scripts/setup.sh)`,
    () => {
      for (const [version, file] of cases) {
        const r = parseSchema(path.join(cache, version, file), { dialect: 'auto' });
        expect(r.dialect, `${version} ${file}`).toBe(version === '7.2' ? 'legacy' : 'modern');
        expect(r.rules.lineFormat, `${version} ${file}`).toBe(version === '10.2');
        expect(r.exprs.length).toBeGreaterThan(40);
        expect(r.docs.length).toBeGreaterThan(r.exprs.length * 0.9);
      }
    },
  );
});
