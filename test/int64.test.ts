/**
 * How a program reads 64-bit integers, chosen once: `int64` at run time
 * ('exact', 'number', 'bigint') and `Register` in the types, checked over
 * the fake peer, on a real QEMU 7.2, and by compiling a program that
 * declares its choice.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectQmp, type Client } from '../generated/qemu-7.2/index.js';
import { ProtocolError, QmpUsageError } from '../runtime/errors.js';
import { caught, event, FakeQmp, holding, open, problems, setup, until } from './support/fake-qmp.js';
import { ROOT } from './support/qemu-sources.js';
import { startQemu, type QemuProcess } from './support/qemu.js';

const memdev = {
  id: 'm0',
  size: 1024,
  merge: true,
  dump: true,
  prealloc: false,
  share: false,
  'host-nodes': [0, 1],
  policy: 'default',
};

describe('int64 over the fake peer', () => {
  it("'bigint': every integer at a 64-bit position is a bigint, smaller types stay numbers, events too", async () => {
    const { server, qmp } = await setup({ onRequest: (req, s) => s.reply(req, [memdev]) }, { int64: 'bigint' });
    const [m] = await qmp.execute('query-memdev');
    expect(m.size).toBe(1024n);
    expect(m['host-nodes']).toEqual([0, 1]); // uint16
    const done = qmp.waitForEvent('BLOCK_JOB_COMPLETED');
    server.send(event('BLOCK_JOB_COMPLETED', { type: 'backup', device: 'j', len: 10, offset: 10, speed: 0 }));
    expect((await done).data).toMatchObject({ len: 10n, offset: 10n, speed: 0n });
  });

  it("'number': integers are numbers; one beyond 2^53 fails its call (or drops its event) with the JSON path, never rounded", async () => {
    const h = holding();
    const { server, qmp } = await setup({ onRequest: h.onRequest }, { int64: 'number' });
    const small = qmp.execute('query-memdev');
    const big = qmp.execute('query-memdev');
    await until(() => h.held.length === 2);
    server.reply(h.held[0], [memdev]);
    server.reply(h.held[1], [{ ...memdev, size: 2n ** 62n }]);
    expect((await small)[0].size).toBe(1024);
    const err = await caught(big);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('unsafe-integer');
    expect((err as Error).message).toMatch(/query-memdev: \$\[0\]\.size is 4611686018427387904, beyond 2\^53/);
    const seen: unknown[] = [];
    qmp.on('BLOCK_JOB_COMPLETED', (e) => seen.push(e.data.len));
    server.send(event('BLOCK_JOB_COMPLETED', { type: 'backup', device: 'j', len: 2n ** 60n, offset: 0, speed: 0 }));
    server.send(event('BLOCK_JOB_COMPLETED', { type: 'backup', device: 'j', len: 5, offset: 0, speed: 0 }));
    await until(() => seen.length === 1);
    expect(seen).toEqual([5]);
    expect(problems(qmp).map((p) => p.code)).toEqual(['unsafe-integer']);
  });

  it("'exact' stays the default, and 'bigint' without a schema is refused", async () => {
    const { server, qmp } = await setup({
      onRequest: (req, s) => s.reply(req, [{ ...memdev, size: 2n ** 62n }, memdev]),
    });
    const [a, b] = await qmp.execute('query-memdev');
    expect([a.size, b.size]).toEqual([2n ** 62n, 1024]);
    void server;
    const err = await caught(open(new FakeQmp(), { int64: 'bigint' }, {}));
    expect((err as QmpUsageError).code).toBe('bad-option');
    expect(((await caught(open(new FakeQmp(), { int64: 'huge' as never }))) as QmpUsageError).code).toBe('bad-option');
  });
});

describe('int64 on a real QEMU 7.2', () => {
  let qemu: QemuProcess | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await qemu?.kill();
    qemu = undefined;
  });

  it('reads sizes as the program chose: bigint, number, or an error naming the member beyond 2^53', async () => {
    qemu = await startQemu({
      args: ['-qmp', 'unix:{dir}/b.sock,server=on,wait=off', '-qmp', 'unix:{dir}/n.sock,server=on,wait=off'],
      waitFor: ['{dir}/b.sock', '{dir}/n.sock'],
    });
    const exact = await connectQmp({ path: qemu.qmpPath });
    const asBigint = await connectQmp({ path: path.join(qemu.dir, 'b.sock') }, { int64: 'bigint' });
    const asNumber = await connectQmp({ path: path.join(qemu.dir, 'n.sock') }, { int64: 'number' });
    clients.push(exact, asBigint, asNumber);
    await exact.execute('blockdev-add', { driver: 'null-co', 'node-name': 'small', size: 1 << 20 });
    const [viaBigint] = await asBigint.execute('query-named-block-nodes');
    expect(viaBigint.image['virtual-size']).toBe(1048576n);
    const [viaNumber] = await asNumber.execute('query-named-block-nodes');
    expect(viaNumber.image['virtual-size']).toBe(1048576);
    await exact.execute('blockdev-add', { driver: 'null-co', 'node-name': 'big', size: 2n ** 62n + 1n });
    const err = await caught(asNumber.execute('query-named-block-nodes'));
    expect((err as ProtocolError).code).toBe('unsafe-integer');
    expect((err as Error).message).toMatch(/\$\[\d\]\.image\.virtual-size is 4611686018427388416/);
    expect(await asNumber.execute('query-status')).toMatchObject({ running: true });
  });
});

describe('int64 in the types', () => {
  /** Compiles a program against the package (as users import it) with TypeScript; returns its diagnostics. */
  function compile(name: string, program: string): string {
    const dir = path.join(ROOT, '.cache', 'int64', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'main.ts'), program);
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          types: ['node'],
          skipLibCheck: true,
        },
        files: ['main.ts'],
      }),
    );
    const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], {
      encoding: 'utf8',
    });
    return r.stdout + r.stderr;
  }

  it("a program that declares int64 'number' gets numbers it can do arithmetic on", () => {
    const out = compile(
      'number',
      `import { connectQmp } from 'qapi-ts/qemu-7.2';
import type {} from 'qapi-ts/runtime';
declare module 'qapi-ts/runtime' {
  interface Register { int64: 'number' }
}
const qmp = await connectQmp({ path: '/run/vm.qmp' }, { int64: 'number' });
const e = await qmp.waitForEvent('BLOCK_JOB_COMPLETED');
const percent: number = (e.data.offset / e.data.len) * 100;
console.log(JSON.stringify(e.data), percent);
// @ts-expect-error a number program has no bigints
const b: bigint = e.data.len;
void b;
`,
    );
    expect(out).toBe('');
  });

  it("a program that declares int64 'number' must say so at run time too: the option is required", () => {
    const out = compile(
      'number-required',
      `import { connectQmp } from 'qapi-ts/qemu-7.2';
import { connectQmp as connectAny, connectQga } from 'qapi-ts';
import type {} from 'qapi-ts/runtime';
declare module 'qapi-ts/runtime' {
  interface Register { int64: 'number' }
}
// @ts-expect-error the values would be number | bigint while typed number
await connectQmp({ path: '/run/vm.qmp' });
// @ts-expect-error another mode than the declared one
await connectQmp({ path: '/run/vm.qmp' }, { int64: 'bigint' });
// @ts-expect-error the same for the main entry's version-matching connectQmp
await connectAny({ path: '/run/vm.qmp' }, { timeout: 5 });
// @ts-expect-error and for the guest agent
await connectQga({ path: '/run/vm.qga' });
await connectAny({ path: '/run/vm.qmp' }, { int64: 'number', timeout: 5 });
await connectQga({ path: '/run/vm.qga' }, { int64: 'number' });
`,
    );
    expect(out).toBe('');
  });

  it('without a declaration, 64-bit integers are number | bigint, and arithmetic needs a choice', () => {
    const out = compile(
      'exact',
      `import { connectQmp } from 'qapi-ts/qemu-7.2';
const qmp = await connectQmp({ path: '/run/vm.qmp' });
const e = await qmp.waitForEvent('BLOCK_JOB_COMPLETED');
const len: number | bigint = e.data.len;
// @ts-expect-error number | bigint does not divide
const ratio = e.data.offset / e.data.len;
void [len, ratio];
`,
    );
    expect(out).toBe('');
  });
});
