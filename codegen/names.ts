/**
 * The C-identifier mapping QEMU's generator applies to QAPI names. The schema
 * rules depend on it: two names clash when they map to the same identifier,
 * and the 'q_' prefix it uses for protection is reserved.
 */

/** Words that cannot be used as C (or C++) identifiers, or that system headers define as macros. */
// prettier-ignore
const TICKLISH = new Set([
  // C89
  'auto', 'break', 'case', 'char', 'const', 'continue', 'default', 'do', 'double', 'else', 'enum', 'extern',
  'float', 'for', 'goto', 'if', 'int', 'long', 'register', 'return', 'short', 'signed', 'sizeof', 'static',
  'struct', 'switch', 'typedef', 'union', 'unsigned', 'void', 'volatile', 'while',
  // C99, C11
  'inline', 'restrict', '_Bool', '_Complex', '_Imaginary',
  '_Alignas', '_Alignof', '_Atomic', '_Generic', '_Noreturn', '_Static_assert', '_Thread_local',
  // GCC extensions
  'asm', 'typeof',
  // C++ keywords and alternative operator spellings
  'bool', 'catch', 'class', 'const_cast', 'delete', 'dynamic_cast', 'explicit', 'false', 'friend', 'mutable',
  'namespace', 'new', 'operator', 'private', 'protected', 'public', 'reinterpret_cast', 'static_cast',
  'template', 'this', 'throw', 'true', 'try', 'typeid', 'typename', 'using', 'virtual', 'wchar_t',
  'and', 'and_eq', 'bitand', 'bitor', 'compl', 'not', 'not_eq', 'or', 'or_eq', 'xor', 'xor_eq',
  // predefined macros on some hosts
  'unix', 'errno', 'mips', 'sparc', 'i386', 'linux',
]);

/**
 * `name` as a C identifier: every character other than a letter, digit or '_'
 * becomes '_'. With `protect`, keywords and names starting with a digit get a 'q_' prefix.
 */
export function cName(name: string, protect = true): string {
  const id = name.replace(/[^A-Za-z0-9_]/g, '_');
  if (protect && (TICKLISH.has(id) || /^[0-9]/.test(id))) return 'q_' + id;
  return id;
}
