/**
 * index.ts of a generated SDK: the entry point. Re-exports every type, the
 * command and event maps, the method facade, the descriptor (`schema`) and
 * the runtime table (`table`) and the client API, says which QEMU release
 * the schema came from, and offers `connectQmp` (QMP schemas) or
 * `connectQga` (the guest agent's): the client bound to this release's
 * types, descriptor and table.
 */
import type { EmitContext } from './type-mapping.js';
import { methodsName } from './methods.js';
import { stringLiteral } from './naming.js';

/** `clientModule`: where the runtime's client for this protocol lives, as an import specifier. */
export function emitIndex(
  ctx: EmitContext,
  qemuVersion: string,
  clientModule: string,
  clientApiModule: string,
): string {
  const methods = methodsName(ctx);
  // The release, as entry points name it: '10.2' for QEMU 10.2.2.
  const data = `{ schema, table, release: ${stringLiteral(qemuVersion.split('.').slice(0, 2).join('.'))} }`;
  const lines = [
    // Type-only: types.js is an empty module, and loading it would cost an import.
    `export type * from './types.js';`,
    `export type { ${ctx.commandsName} } from './commands.js';`,
    `export type { ${ctx.eventsName} } from './events.js';`,
    `export type { ${methods} } from './methods.js';`,
    `export { schema } from './schema.js';`,
    `export { table } from './table.js';`,
    '',
    `/** The QEMU release whose schema this SDK was generated from (its VERSION file). */`,
    `export const qemuVersion = ${stringLiteral(qemuVersion)};`,
    '',
  ];
  const common = [
    `import type { ${ctx.commandsName} } from './commands.js';`,
    ...(ctx.protocol === 'qga' ? [] : [`import type { ${ctx.eventsName} } from './events.js';`]),
    `import type { ${methods} } from './methods.js';`,
    `import { schema } from './schema.js';`,
    `import { table } from './table.js';`,
    '',
    '// The client API and errors, so that one import line is enough whichever release is pinned.',
    `export * from ${stringLiteral(clientApiModule)};`,
    ...lines,
  ];
  if (ctx.protocol === 'qga') {
    return [
      `import { bindConnectAgent, type QgaClient } from ${stringLiteral(clientModule)};`,
      ...common,
      `/** A guest-agent client typed for this release: \`execute\`, \`cmd.*\`, \`exec\`, files and the rest. */`,
      `export type Client = QgaClient<${ctx.commandsName}, ${methods}>;`,
      '',
      '/**',
      " * Connects to a guest agent (`{ path }` of the host end of the VM's `org.qemu.guest_agent.0`",
      " * channel or of qemu-ga's own socket, `{ host, port }` or `{ stream }`), synchronises with it",
      ' * (discarding whatever an earlier client left in the channel) and returns a client typed for',
      ' * this release, which checks arguments against its schema before sending them.',
      ' */',
      `export const connectQga = bindConnectAgent<${ctx.commandsName}, ${methods}>(${data});`,
      '',
    ].join('\n');
  }
  return [
    `import { bindConnect, type QmpClient } from ${stringLiteral(clientModule)};`,
    ...common,
    `/** A QMP client typed for this release: \`execute\`, \`cmd.*\`, events and the rest. */`,
    `export type Client = QmpClient<${ctx.commandsName}, ${ctx.eventsName}, ${methods}>;`,
    '',
    '/**',
    ' * Connects to a QMP monitor (`{ path }`, `{ host, port }`, `{ stream }` or `{ listen }`),',
    ' * reads the greeting, negotiates capabilities and returns a client typed for this release,',
    ' * which checks arguments against its schema before sending them.',
    ' */',
    `export const connectQmp = bindConnect<${ctx.commandsName}, ${ctx.eventsName}, ${methods}>(${data});`,
    '',
  ].join('\n');
}
