/**
 * commands.ts of a generated SDK: the command map, one property per wire name:
 *
 *     'blockdev-add': { args: BlockdevOptions; params: [args: BlockdevOptions]; returns: Record<string, never> };
 *
 * - `args`: the arguments object. Inline arguments are written inline (with
 *   their docs); named and boxed ones are the named type. A command without
 *   arguments has `Record<string, never>`. Commands QEMU marshals by hand
 *   (`'gen': false`, e.g. device_add) also accept any further properties.
 * - `params`: the parameter list a client method takes, precomputed so that
 *   the runtime needs no conditional types: `[]` without arguments,
 *   `[args?: A]` when every argument is optional, `[args: A]` otherwise.
 * - `returns`: the result as QEMU sends it (output direction). A command
 *   without 'returns' replies `{}`: `Record<string, never>`. A command with
 *   'success-response': false sends no reply at all on success: `void`.
 */
import type { Command } from '../entities.js';
import {
  EMPTY_OBJECT,
  mayBeAbsent,
  type EmitContext,
  type EmittedFile,
  type TypeWriter,
  typeWriter,
} from './type-mapping.js';
import { definitionDoc } from './jsdoc.js';
import { propertyKey, stringLiteral } from './naming.js';
import { type PropertyNode, ref, type TypeNode } from './printer.js';

/** What a command without arguments has, and what one without 'returns' replies. */

/** The extra properties a `'gen': false` command accepts besides its declared arguments. */
export const OPEN_ARGUMENTS = '{ [property: string]: JsonValue | undefined }';

function commandEntry(command: Command, ctx: EmitContext, writer: TypeWriter): PropertyNode {
  const argType = command.argType;
  let args: TypeNode;
  let params: string;
  if (!argType || argType.isEmpty) {
    args = ref(EMPTY_OBJECT);
    params = '[]';
  } else {
    args = writer.ref(argType, 'strict');
    if (!command.gen) {
      writer.runtime('JsonValue');
      args = { kind: 'intersection', parts: [args, { kind: 'inlineObject', text: OPEN_ARGUMENTS }] };
    }
    // Inline arguments are written once: the parameter list refers back to them.
    const argRef = args.kind === 'ref' ? args.text : `${ctx.commandsName}[${stringLiteral(command.name)}]['args']`;
    const optional = !argType.branches && argType.members.every(mayBeAbsent);
    params = optional ? `[args?: ${argRef}]` : `[args: ${argRef}]`;
  }
  let returns: TypeNode;
  const extra: string[][] = [];
  if (!command.successResponse) {
    returns = ref('void');
    extra.push([
      `On success, ${ctx.doc.product} sends no reply to this command ('success-response': false):`,
      '`returns` is `void`, and the client resolves once the command is written; a refusal',
      "(disabled, unsupported) arrives later, through `onError`. To know it happened, watch QEMU's",
      'events: `shutdown(mode, { qmp })` and `suspend(to, { qmp })` resolve with SHUTDOWN, SUSPEND',
      "or SUSPEND_DISK from the VM's QMP client.",
    ]);
  } else if (command.retType) {
    returns = writer.ref(command.retType, 'out');
  } else {
    returns = ref(EMPTY_OBJECT);
  }
  if (!command.gen) {
    extra.push([
      "The arguments are checked by hand-written code ('gen': false): besides the declared ones,",
      '`args` may hold further properties.',
    ]);
  }
  return {
    key: propertyKey(command.name),
    type: {
      kind: 'object',
      members: [
        { key: 'args', type: args },
        { key: 'params', type: ref(params) },
        { key: 'returns', type: returns },
      ],
    },
    doc: definitionDoc(command, ctx.doc, { extra }),
  };
}

/** The `QmpCommands` (or `QgaCommands`) interface, commands in visit order. */
export function emitCommands(ctx: EmitContext): EmittedFile {
  const writer = typeWriter(ctx);
  const members: PropertyNode[] = [];
  ctx.schema.visit({ visitCommand: (c) => void members.push(commandEntry(c, ctx, writer)) });
  const what = ctx.protocol === 'qga' ? 'guest agent (qemu-ga)' : 'QMP';
  return {
    statements: [
      {
        kind: 'interface',
        name: ctx.commandsName,
        members,
        doc:
          `The ${what} commands. For each command's wire name: its arguments (\`args\`), the parameter\n` +
          `list a client method takes (\`params\`) and what the command returns (\`returns\`).`,
      },
    ],
    writer,
  };
}
