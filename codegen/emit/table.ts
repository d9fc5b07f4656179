/**
 * The runtime table (runtime/schema/table.ts): per command, its method name,
 * whether it replies and whether it needs arguments. Everything else the
 * runtime reads from the descriptor.
 */
import type { Command } from '../entities.js';
import { methodNames } from './naming.js';
import { mayBeAbsent } from './type-mapping.js';
import type { Schema } from '../schema.js';
import type { CommandEntry, RuntimeTable } from '../../runtime/schema/table.js';

/** `methods`: each command's method name, as the plan (EmitContext) computed them once. */
export function buildTable(schema: Schema, methods: ReadonlyMap<string, string> = methodNames(schema)): RuntimeTable {
  const commands: { [wireName: string]: CommandEntry } = {};
  schema.visit({
    visitCommand(c: Command) {
      const entry: CommandEntry = { method: methods.get(c.name)! };
      // Not in the descriptor (introspection does not show it), and the guest agent's client must know.
      if (!c.successResponse) entry.noReply = true;
      // So that a call without arguments needs no descriptor (which then loads on first use).
      if (c.argType?.members.some((m) => !mayBeAbsent(m))) entry.argsRequired = true;
      commands[c.name] = entry;
    },
  });
  return { commands };
}
