/**
 * The runtime table (runtime/schema/table.ts): per command, its method name
 * and whether it replies. Everything else the runtime reads from the
 * descriptor.
 */
import type { Command } from '../entities.js';
import { QapiError } from '../errors.js';
import { isIdentifier } from './naming.js';
import type { Schema } from '../schema.js';
import type { CommandEntry, RuntimeTable } from '../../runtime/schema/table.js';

/**
 * The client method for a command: camelCase of its wire name, words split
 * at '-', '_' and '.'. 'blockdev-add' → 'blockdevAdd', 'qmp_capabilities' →
 * 'qmpCapabilities'; a downstream prefix loses its underscores and dots:
 * '__com.redhat_drive-add' → 'comRedhatDriveAdd'.
 */
export function methodName(wireName: string): string {
  const words = wireName.split(/[-_.]+/).filter(Boolean);
  const name = words.map((w, i) => (i ? w[0].toUpperCase() + w.slice(1) : w)).join('');
  if (!isIdentifier(name)) {
    throw new QapiError(`command '${wireName}' has no valid method name (got '${name}')`);
  }
  return name;
}

export function buildTable(schema: Schema): RuntimeTable {
  const commands: { [wireName: string]: CommandEntry } = {};
  const methods = new Map<string, string>();
  schema.visit({
    visitCommand(c: Command) {
      const method = methodName(c.name);
      const other = methods.get(method);
      if (other !== undefined) {
        throw new QapiError(`commands '${other}' and '${c.name}' would both be the client method '${method}'`);
      }
      methods.set(method, c.name);
      const entry: CommandEntry = { method };
      // Not in the descriptor (introspection does not show it), and the guest agent's client must know.
      if (!c.successResponse) entry.noReply = true;
      commands[c.name] = entry;
    },
  });
  return { commands };
}
