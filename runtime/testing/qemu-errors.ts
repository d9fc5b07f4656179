/**
 * The errors QEMU answers a malformed request with, as QEMU 7.2 words them
 * (qapi/qmp-dispatch.c, qapi/qobject-input-visitor.c,
 * qapi/qapi-visit-core.c, and the generated visitors). The request's shape
 * is checked here; its arguments by the runtime's own validator, whose
 * first problem (QEMU stops at the first) is reworded as QEMU would put it.
 */
import { entriesByName, type SchemaDescriptor, type SchemaInfo } from '../schema/descriptor.js';
import { validate, type ValidationProblem } from '../schema/validate.js';
import type { JsonObject } from '../wire/framing.js';
import { qdictOrder } from './qemu-json.js';
import { parsePath, typeAt, type PathStep } from './schema-walk.js';

/**
 * qmp_dispatch_check_obj(): the command and whether it came as exec-oob, or
 * the error. QEMU looks at the members in the order it keeps them (which
 * decides which of two clashing members it names first); 'exec-oob' is a
 * member like any other unless oob was negotiated.
 */
export function checkRequest(msg: JsonObject, oobEnabled: boolean): { command: string; oob: boolean } | string {
  let exec: string | undefined;
  for (const key of qdictOrder(Object.keys(msg))) {
    const value = msg[key];
    if (key === 'execute' || (key === 'exec-oob' && oobEnabled)) {
      if (typeof value !== 'string') return `QMP input member '${key}' must be a string`;
      if (exec !== undefined) return `QMP input member '${key}' clashes with '${exec}'`;
      exec = key;
    } else if (key === 'arguments') {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        return "QMP input member 'arguments' must be an object";
    } else if (key !== 'id') {
      return `QMP input member '${key}' is unexpected`;
    }
  }
  if (exec === undefined) return "QMP input lacks member 'execute'";
  return { command: msg[exec] as string, oob: exec === 'exec-oob' };
}

/**
 * monitor/qmp.c qmp_is_oob(): a request QEMU runs at once, before the
 * in-band ones waiting (even when oob was not negotiated: it is then
 * refused at once).
 */
export function looksOob(msg: JsonObject): boolean {
  return Object.hasOwn(msg, 'exec-oob') && !Object.hasOwn(msg, 'execute');
}

/** The arguments' first problem as QEMU words it, or undefined when they are valid. */
export function argumentError(schema: SchemaDescriptor, command: string, args: JsonObject): string | undefined {
  const problems = validate(schema, { command, direction: 'arguments' }, args);
  if (!problems.length) return undefined;
  const info = entriesByName(schema).get(command);
  const argType = info?.['meta-type'] === 'command' ? info['arg-type'] : undefined;
  return argType === undefined ? problems[0].message : qemuWording(schema, argType, args, problems[0]);
}

/** QEMU's integer types by how they fail: signed ones through type_int64, unsigned ones through type_uint64. */
const SIGNED = new Set(['int', 'int8', 'int16', 'int32', 'int64']);
const UNSIGNED = new Set(['uint8', 'uint16', 'uint32', 'uint64', 'size']);
/** Types that QEMU checks for range after reading a 64-bit integer: visit_type_intN/uintN's C type names. */
const NARROW: { [name: string]: string } = {
  int8: 'int8_t',
  int16: 'int16_t',
  int32: 'int32_t',
  uint8: 'uint8_t',
  uint16: 'uint16_t',
  uint32: 'uint32_t',
};

/**
 * qobject-input-visitor.c full_name(): 'file.filename', 'actions[0].data.name'.
 * Used where QEMU passes the full name; some messages pass the member's own
 * name only (localName), 'null' for an array element.
 */
function fullName(steps: readonly PathStep[]): string {
  let out = '';
  for (const s of steps) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  return out || 'null';
}

function localName(steps: readonly PathStep[]): string {
  const last = steps[steps.length - 1];
  return typeof last === 'string' ? last : 'null';
}

function valueAt(value: unknown, steps: readonly PathStep[]): unknown {
  let v = value;
  for (const s of steps) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[s] : undefined;
  return v;
}

function qemuWording(schema: SchemaDescriptor, argType: string, args: JsonObject, p: ValidationProblem): string {
  const steps = parsePath(p.path);
  const full = fullName(steps);
  const local = localName(steps);
  if (p.message.startsWith('missing required member')) return `Parameter '${full}' is missing`;
  if (p.message.startsWith('unknown member')) return `Parameter '${full}' is unexpected`;
  if (p.allowed && p.message.includes('is not one of the allowed values'))
    return `Parameter '${local}' does not accept value '${String(valueAt(args, steps))}'`;
  const info = typeAt(schema, argType, args, steps);
  if (!info) return p.message;
  const intType = info['meta-type'] === 'builtin' && info['json-type'] === 'int' ? info.name : undefined;
  if (intType !== undefined) return integerWording(intType, p, full, local);
  if (p.message.startsWith('expected ')) return `Invalid parameter type for '${wrongTypeName(info, full, local)}`;
  return p.message;
}

/** "x', expected: string": the name and the expected type QEMU gives for a value of the wrong JSON type. */
function wrongTypeName(info: SchemaInfo, full: string, local: string): string {
  switch (info['meta-type']) {
    case 'builtin':
      return `${full}', expected: ${info['json-type']}`;
    case 'enum':
      return `${full}', expected: string`;
    case 'array':
      return `${full}', expected: array`;
    case 'object':
      return `${full}', expected: object`;
    case 'alternate':
      // The generated visitor of an alternate names the member alone, and the type.
      return `${local}', expected: ${info.name}`;
    default:
      return `${full}', expected: ${info.name}`;
  }
}

function integerWording(type: string, p: ValidationProblem, full: string, local: string): string {
  const readable = !p.message.startsWith('expected ') && !p.message.endsWith('is not an integer');
  // A 64-bit read that fails: a wrong JSON type, a fraction, or beyond 64 bits.
  const narrow = NARROW[type];
  if (readable && narrow !== undefined) {
    // Read as 64 bits, then out of the narrow type's range (QEMU wraps a negative one for unsigned types, still out of range).
    return `Parameter '${local}' expects ${narrow}`;
  }
  if (UNSIGNED.has(type)) return `Parameter '${full}' expects uint64`;
  if (SIGNED.has(type)) return `Invalid parameter type for '${full}', expected: integer`;
  return p.message;
}
