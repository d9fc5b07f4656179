/**
 * methods.ts of a generated SDK: the client's facade, one method per command
 * under its camelCase name (`qmp.cmd.blockdevAdd(...)`), with the command's
 * docs so editors show them on hover. Types point into the command map.
 */
import type { Command } from '../entities.js';
import { buildTable } from './table.js';
import type { EmitContext } from './type-mapping.js';
import { definitionDoc } from './jsdoc.js';
import { propertyKey, stringLiteral } from './naming.js';
import { type PropertyNode, ref, type Statement } from './printer.js';

export function methodsName(ctx: EmitContext): string {
  return ctx.protocol === 'qga' ? 'QgaMethods' : 'QmpMethods';
}

export function emitMethods(ctx: EmitContext): Statement[] {
  const names = buildTable(ctx.schema).commands;
  const members: PropertyNode[] = [];
  ctx.schema.visit({
    visitCommand: (c: Command) => {
      members.push({
        key: propertyKey(names[c.name].method),
        type: ref(`Method<${ctx.commandsName}, ${stringLiteral(c.name)}>`),
        doc: definitionDoc(c, ctx.doc, { extra: [[`Runs \`${c.name}\`.`]] }),
      });
    },
  });
  return [
    {
      kind: 'interface',
      name: methodsName(ctx),
      members,
      doc: `One method per command, named in camelCase: \`cmd.${camelExample(ctx)}()\` runs the command on the wire.`,
    },
  ];
}

function camelExample(ctx: EmitContext): string {
  return ctx.protocol === 'qga' ? 'guestPing' : 'queryStatus';
}
