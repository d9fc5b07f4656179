/**
 * events.ts of a generated SDK: the event map, event name → the type of its
 * `data` (output direction). Inline data is written inline with its docs;
 * boxed data is the named type; an event without data has
 * `Record<string, never>`. The guest agent has no events: its map is empty.
 */
import type { Event } from '../entities.js';
import { EMPTY_OBJECT, type EmitContext, type EmittedFile, type TypeWriter, typeWriter } from './type-mapping.js';
import { definitionDoc } from './jsdoc.js';
import { propertyKey } from './naming.js';
import { type PropertyNode, ref } from './printer.js';

function eventEntry(event: Event, ctx: EmitContext, writer: TypeWriter): PropertyNode {
  return {
    key: propertyKey(event.name),
    type: event.argType && !event.argType.isEmpty ? writer.ref(event.argType, 'out') : ref(EMPTY_OBJECT),
    doc: definitionDoc(event, ctx.doc),
  };
}

/** The `QmpEvents` (or `QgaEvents`) interface, events in visit order. */
export function emitEvents(ctx: EmitContext): EmittedFile {
  const writer = typeWriter(ctx);
  const members: PropertyNode[] = [];
  ctx.schema.visit({ visitEvent: (e) => void members.push(eventEntry(e, ctx, writer)) });
  const what = ctx.protocol === 'qga' ? 'guest agent (qemu-ga)' : 'QMP';
  const none = members.length ? '' : ' This schema defines none.';
  return {
    statements: [
      {
        kind: 'interface',
        name: ctx.eventsName,
        members,
        doc: `The ${what} events: for each event name, the type of its \`data\`.${none}`,
      },
    ],
    writer,
  };
}
