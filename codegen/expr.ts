/**
 * Shape checks on each top-level expression, before any name is resolved:
 * which keys a definition may have, what their values look like, naming
 * rules, conditions, features and flags. Sugared forms are normalized in
 * place ('name': 'type' becomes 'name': {'type': 'type'}, a feature or enum
 * value given as a string becomes {'name': ...}), so the model builder sees
 * one canonical form.
 *
 * The checks run in the same order as QEMU's, so a schema with several
 * problems is rejected for the same first one.
 */
import type { QapiDict, QapiExpression, QapiValue } from './expressions.js';
import { QapiSemanticError } from './errors.js';
import { cName } from './names.js';
import type { SourceInfo } from './source.js';

type Value = QapiValue | undefined;

export const DEFINITION_METAS = ['enum', 'struct', 'union', 'alternate', 'command', 'event'] as const;
export type DefinitionMeta = (typeof DEFINITION_METAS)[number];

const isDict = (v: Value): v is QapiDict => v instanceof Map;

/** Truthiness as the QAPI language's Python reference sees it: empty strings, lists and objects are false. */
function truthy(v: Value): boolean {
  if (v === undefined || v === false) return false;
  if (v === true) return true;
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0;
  return v.size > 0;
}

function fail(info: SourceInfo, msg: string): never {
  throw new QapiSemanticError(info, msg);
}

// ---------------------------------------------------------------- names

/** Optional downstream prefix __RFQDN_, optional 'x-', then the stem. */
const VALID_NAME = /^(__[a-z0-9.-]+_)?(x-)?([a-z][a-z0-9_-]*)$/i;

function checkNameIsStr(name: Value, info: SourceInfo, source: string): asserts name is string {
  if (typeof name !== 'string') fail(info, `${source} needs a string for its name`);
}

/** Checks the general form of a name; returns its stem (without prefixes). */
function checkNameStr(name: string, info: SourceInfo, source: string): string {
  const m = VALID_NAME.exec(name);
  // 'q_' is reserved for the generator's own identifiers (q_empty, q_obj_*, protected names).
  if (!m || cName(name, false).startsWith('q_')) fail(info, `${source} has a name that is not valid`);
  return m[3];
}

function checkNameUpper(name: string, info: SourceInfo, source: string): void {
  const stem = checkNameStr(name, info, source);
  if (/[a-z-]/.test(stem)) fail(info, `name of ${source} may use neither lowercase letters nor '-'`);
}

function checkNameLower(
  name: string,
  info: SourceInfo,
  source: string,
  permitUpper = false,
  permitUnderscore = false,
): void {
  const stem = checkNameStr(name, info, source);
  if ((!permitUpper && /[A-Z]/.test(stem)) || (!permitUnderscore && stem.includes('_'))) {
    fail(info, `name of ${source} may use neither uppercase letters nor '_'`);
  }
}

function checkNameCamel(name: string, info: SourceInfo, source: string): void {
  const stem = checkNameStr(name, info, source);
  if (!/^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$/.test(stem)) fail(info, `name of ${source} is not in CamelCase`);
}

function checkDefnNameStr(name: string, info: SourceInfo, meta: DefinitionMeta): void {
  if (meta === 'event') {
    checkNameUpper(name, info, meta);
  } else if (meta === 'command') {
    checkNameLower(name, info, meta, false, info.pragma.commandNameExceptions.includes(name));
  } else {
    checkNameCamel(name, info, meta);
    // Names ending in 'List' are taken by the implicit array types.
    if (name.endsWith('List')) fail(info, `a ${meta} name may not end in 'List'`);
  }
}

// ---------------------------------------------------------------- keys, flags, conditions

function quotedSorted(keys: Iterable<string>): string {
  return [...keys]
    .sort()
    .map((k) => `'${k}'`)
    .join(', ');
}

function checkKeys(value: QapiDict, info: SourceInfo, source: string, required: string[], optional: string[]): void {
  const missing = required.filter((k) => !value.has(k));
  if (missing.length) {
    fail(info, `${source} lacks key${missing.length > 1 ? 's' : ''} ${quotedSorted(missing)}`);
  }
  const allowed = new Set([...required, ...optional]);
  const unknown = [...value.keys()].filter((k) => !allowed.has(k));
  if (unknown.length) {
    fail(
      info,
      `${source} has unknown key${unknown.length > 1 ? 's' : ''} ${quotedSorted(unknown)}\n` +
        `The keys it may have are ${quotedSorted(allowed)}.`,
    );
  }
}

function checkFlags(expr: QapiDict, info: SourceInfo): void {
  for (const key of ['gen', 'success-response']) {
    if (expr.has(key) && expr.get(key) !== false) fail(info, `flag '${key}' can only be false`);
  }
  for (const key of ['boxed', 'allow-oob', 'allow-preconfig', 'coroutine']) {
    if (expr.has(key) && expr.get(key) !== true) fail(info, `flag '${key}' can only be true`);
  }
  // No use case yet, and what the combination should mean is unclear.
  if (expr.has('allow-oob') && expr.has('coroutine'))
    fail(info, "flags 'allow-oob' and 'coroutine' cannot be combined");
}

function checkIf(holder: QapiDict, info: SourceInfo, source: string): void {
  const checkCond = (cond: QapiValue): void => {
    if (typeof cond === 'string') {
      if (!/^[A-Z][A-Z0-9_]*$/.test(cond)) {
        fail(info, `'if' condition '${cond}' of ${source} is not a valid identifier`);
      }
      return;
    }
    if (!isDict(cond)) fail(info, `'if' condition of ${source} needs a string or an object`);
    checkKeys(cond, info, `'if' condition of ${source}`, [], ['all', 'any', 'not']);
    if (cond.size !== 1) fail(info, `'if' condition of ${source} must have exactly one of 'all', 'any' and 'not'`);
    if (cond.has('not')) checkCond(cond.get('not')!);
    else if (cond.has('all')) checkOperands('all', cond.get('all')!);
    else checkOperands('any', cond.get('any')!);
  };
  const checkOperands = (op: string, operands: QapiValue): void => {
    if (!Array.isArray(operands)) fail(info, `'${op}' condition of ${source} needs an array`);
    if (!operands.length) fail(info, `'if' condition [] of ${source} has no operands, so it is pointless`);
    for (const o of operands) checkCond(o);
  };
  const cond = holder.get('if');
  if (cond !== undefined) checkCond(cond);
}

// ---------------------------------------------------------------- members and types

/** Sugar: a member given as a bare type becomes {'type': type}. */
function normalizeMembers(members: Value): void {
  if (!isDict(members)) return;
  for (const [key, arg] of members) {
    if (!isDict(arg)) members.set(key, new Map([['type', arg]]));
  }
}

function checkTypeName(value: Value, info: SourceInfo, source: string): void {
  if (value !== undefined && typeof value !== 'string') fail(info, `${source} needs a type name`);
}

function checkTypeNameOrArray(value: Value, info: SourceInfo, source: string): void {
  if (value === undefined || typeof value === 'string') return;
  if (!Array.isArray(value)) fail(info, `${source} needs a type name or an array`);
  if (value.length !== 1 || typeof value[0] !== 'string') {
    fail(info, `${source}: an array type takes exactly one type name`);
  }
}

/** An inline object type: {'name': {'type': ..., 'if': ..., 'features': ...}, '*optional': ...}. */
function checkTypeImplicit(value: Value, info: SourceInfo, source: string, parentName: string | undefined): void {
  if (value === undefined) return;
  if (!isDict(value)) fail(info, `${source} needs an object or a type name`);
  const permissive = parentName !== undefined && info.pragma.memberNameExceptions.includes(parentName);
  for (const [rawKey, arg] of value) {
    const keySource = `${source} member '${rawKey}'`;
    const key = rawKey.startsWith('*') ? rawKey.slice(1) : rawKey;
    checkNameLower(key, info, keySource, permissive, permissive);
    // 'u' holds the branches and 'has_X' flags optional X in the generated C.
    const c = cName(key, false);
    if (c === 'u' || c.startsWith('has_')) fail(info, `${keySource} uses a reserved name`);
    const member = arg as QapiDict; // normalized
    checkKeys(member, info, keySource, ['type'], ['if', 'features']);
    checkIf(member, info, keySource);
    checkFeatures(member.get('features'), info);
    checkTypeNameOrArray(member.get('type'), info, keySource);
  }
}

function checkTypeNameOrImplicit(value: Value, info: SourceInfo, source: string, parentName: string | undefined): void {
  if (value === undefined || typeof value === 'string') return;
  checkTypeImplicit(value, info, source, parentName);
}

function checkFeatures(features: Value, info: SourceInfo): void {
  if (features === undefined) return;
  if (!Array.isArray(features)) fail(info, "'features' needs an array");
  for (let i = 0; i < features.length; i++) {
    const f = features[i];
    if (!isDict(f)) features[i] = new Map([['name', f]]);
  }
  for (const feat of features as QapiDict[]) {
    checkKeys(feat, info, "'features' member", ['name'], ['if']);
    const name = feat.get('name');
    checkNameIsStr(name, info, "'features' member");
    const source = `'features' member '${name}'`;
    checkNameLower(name, info, source);
    checkIf(feat, info, source);
  }
}

// ---------------------------------------------------------------- definitions

function checkEnum(expr: QapiDict, info: SourceInfo): void {
  const name = expr.get('enum') as string;
  const members = expr.get('data');
  const prefix = expr.get('prefix');
  if (!Array.isArray(members)) fail(info, "'data' needs an array");
  if (prefix !== undefined && typeof prefix !== 'string') fail(info, "'prefix' needs a string");
  const permissive = info.pragma.memberNameExceptions.includes(name);
  for (let i = 0; i < members.length; i++) {
    const m = members[i];
    if (!isDict(m)) members[i] = new Map([['name', m]]);
  }
  for (const member of members as QapiDict[]) {
    checkKeys(member, info, "'data' member", ['name'], ['if', 'features']);
    const memberName = member.get('name');
    checkNameIsStr(memberName, info, "'data' member");
    const source = `'data' member '${memberName}'`;
    // Enum values may start with a digit; check the rest as if it started with a letter.
    checkNameLower(/^[0-9]/.test(memberName) ? 'd' + memberName : memberName, info, source, permissive, permissive);
    checkIf(member, info, source);
    checkFeatures(member.get('features'), info);
  }
}

function checkStruct(expr: QapiDict, info: SourceInfo): void {
  checkTypeImplicit(expr.get('data'), info, "'data'", expr.get('struct') as string);
  checkTypeName(expr.get('base'), info, "'base'");
}

function checkUnion(expr: QapiDict, info: SourceInfo): void {
  const members = expr.get('data');
  checkTypeNameOrImplicit(expr.get('base'), info, "'base'", expr.get('union') as string);
  checkNameIsStr(expr.get('discriminator'), info, "'discriminator'");
  if (!isDict(members)) fail(info, "'data' needs an object");
  // Branch names are checked against the discriminator's enum later, in the schema.
  for (const [key, value] of members) {
    const source = `'data' member '${key}'`;
    const branch = value as QapiDict; // normalized
    checkKeys(branch, info, source, ['type'], ['if']);
    checkIf(branch, info, source);
    checkTypeName(branch.get('type'), info, source);
  }
}

function checkAlternate(expr: QapiDict, info: SourceInfo): void {
  const members = expr.get('data');
  if (!truthy(members)) fail(info, "'data' may not be empty");
  if (!isDict(members)) fail(info, "'data' needs an object");
  for (const [key, value] of members) {
    const source = `'data' member '${key}'`;
    checkNameLower(key, info, source);
    const branch = value as QapiDict; // normalized
    checkKeys(branch, info, source, ['type'], ['if']);
    checkIf(branch, info, source);
    checkTypeNameOrArray(branch.get('type'), info, source);
  }
}

/** Commands and events: with 'boxed', 'data' must name a type; otherwise it may also be inline. */
function checkArguments(expr: QapiDict, info: SourceInfo): void {
  const args = expr.get('data');
  if (truthy(expr.get('boxed'))) {
    if (args === undefined) fail(info, "'boxed': true needs 'data'");
    checkTypeName(args, info, "'data'");
  } else {
    checkTypeNameOrImplicit(args, info, "'data'", undefined);
  }
}

const COMMON_OPTIONAL = ['if', 'features'];

/** Checks and normalizes the expressions in place; returns them for chaining. */
export function checkExprs(exprs: QapiExpression[]): QapiExpression[] {
  for (const e of exprs) {
    const { expr, info, doc } = e;
    if (expr.has('include')) continue;

    const metas = DEFINITION_METAS.filter((m) => expr.has(m));
    if (metas.length !== 1) {
      fail(info, `an expression needs exactly one of the keys ${DEFINITION_METAS.map((m) => `'${m}'`).join(', ')}`);
    }
    const meta = metas[0];
    const name = expr.get(meta);
    checkNameIsStr(name, info, `'${meta}'`);
    info.setDefn(meta, name);
    checkDefnNameStr(name, info, meta);

    if (doc) {
      if (doc.symbol !== name) fail(info, `the documentation comment belongs to '${doc.symbol}'`);
      doc.checkExpr(e);
    } else if (info.pragma.docRequired) {
      fail(info, 'a documentation comment is required here');
    }

    switch (meta) {
      case 'enum':
        checkKeys(expr, info, meta, ['enum', 'data'], [...COMMON_OPTIONAL, 'prefix']);
        checkEnum(expr, info);
        break;
      case 'union':
        checkKeys(expr, info, meta, ['union', 'base', 'discriminator', 'data'], COMMON_OPTIONAL);
        normalizeMembers(expr.get('base'));
        normalizeMembers(expr.get('data'));
        checkUnion(expr, info);
        break;
      case 'alternate':
        checkKeys(expr, info, meta, ['alternate', 'data'], COMMON_OPTIONAL);
        normalizeMembers(expr.get('data'));
        checkAlternate(expr, info);
        break;
      case 'struct':
        checkKeys(expr, info, meta, ['struct', 'data'], ['base', ...COMMON_OPTIONAL]);
        normalizeMembers(expr.get('data'));
        checkStruct(expr, info);
        break;
      case 'command':
        checkKeys(
          expr,
          info,
          meta,
          ['command'],
          [
            'data',
            'returns',
            'boxed',
            ...COMMON_OPTIONAL,
            'gen',
            'success-response',
            'allow-oob',
            'allow-preconfig',
            'coroutine',
          ],
        );
        normalizeMembers(expr.get('data'));
        checkArguments(expr, info);
        checkTypeNameOrArray(expr.get('returns'), info, "'returns'");
        break;
      case 'event':
        checkKeys(expr, info, meta, ['event'], ['data', 'boxed', ...COMMON_OPTIONAL]);
        normalizeMembers(expr.get('data'));
        checkArguments(expr, info);
        break;
    }

    checkIf(expr, info, meta);
    checkFeatures(expr.get('features'), info);
    checkFlags(expr, info);
  }
  return exprs;
}
