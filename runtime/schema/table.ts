/**
 * What the client needs to know about a schema at run time beyond the
 * descriptor, and only that: each command's method name on the `cmd`
 * facade, the commands that never reply, and those that need arguments (so
 * that the many calls without any need no descriptor, which loads lazily). Whether a command may run out
 * of band, where 64-bit integers live and every type come from the
 * descriptor. Generated as `generated/<label>/table.ts`; keys in schema
 * order; flags present only when true.
 */

export interface CommandEntry {
  /** The client's method for the command: camelCase of the wire name ('blockdev-add' → 'blockdevAdd'). */
  method: string;
  /** The command sends no reply when it succeeds ('success-response': false; guest-shutdown and friends). */
  noReply?: true;
  /** The command has required arguments: a call without any goes to validation, which says which. */
  argsRequired?: true;
}

export interface RuntimeTable {
  /** By wire name. */
  commands: { [wireName: string]: CommandEntry };
}
