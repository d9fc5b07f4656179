/**
 * methods.ts of a generated SDK: the client's facade, one method per command
 * under its camelCase name (`qmp.cmd.blockdevAdd(...)`), with the command's
 * docs so editors show them on hover. Types point into the command map.
 *
 * Why the docs are written a second time (commands.ts has them too): the
 * shorter shape, a mapped type over the command map with its keys remapped
 * to camelCase (`[K in keyof C as CamelCase<K>]: Method<C, K>`), loses every
 * property's JSDoc in TypeScript, so hover would show nothing. Spelling each
 * method out costs its text (methods.ts is about 200 KB of QEMU 10.2's
 * 1.4 MB SDK) and keeps the docs, the `@deprecated` strikethrough included.
 */
import type { Command } from '../entities.js';
import type { EmitContext } from './type-mapping.js';
import { definitionDoc } from './jsdoc.js';
import { propertyKey, stringLiteral } from './naming.js';
import { type PropertyNode, ref, type Statement } from './printer.js';

export function methodsName(ctx: EmitContext): string {
  return ctx.protocol === 'qga' ? 'QgaMethods' : 'QmpMethods';
}

export function emitMethods(ctx: EmitContext): Statement[] {
  const members: PropertyNode[] = [];
  ctx.schema.visit({
    visitCommand: (c: Command) => {
      members.push({
        key: propertyKey(ctx.methods.get(c.name)!),
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
