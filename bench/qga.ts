/**
 * The guest-agent client against a real qemu-ga (7.2, on this host, as in
 * the end-to-end tests) versus the smallest raw client in the same run:
 * sequential guest-ping round trips per second. The agent serves one
 * client at a time, so the two take turns, in rounds.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connectQga } from '../generated/qga-7.2/index.js';
import { startAgent } from '../test/support/agent.js';
import { median, report } from './report.js';

const CALLS = 20_000;
const ROUNDS = 20;

/** Newline framing, JSON.parse, one request at a time: what a hand-written agent client does. */
async function rawRate(path: string, calls: number): Promise<number> {
  const sock: Socket = netConnect(path);
  await new Promise((r) => sock.once('connect', r));
  sock.setEncoding('utf8');
  let buf = '';
  let waiter: ((line: unknown) => void) | undefined;
  sock.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      waiter?.(JSON.parse(line));
    }
  });
  const ping = (id: number): Promise<unknown> =>
    new Promise((resolve) => {
      waiter = resolve;
      sock.write(`{"execute":"guest-ping","id":${id}}`);
    });
  for (let i = 0; i < 1000; i++) await ping(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await ping(i);
  const rate = calls / (Number(process.hrtime.bigint() - t0) / 1e9);
  sock.destroy();
  return rate;
}

async function oursRate(path: string, calls: number): Promise<number> {
  const qga = await connectQga({ path });
  for (let i = 0; i < 1000; i++) await qga.execute('guest-ping');
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await qga.execute('guest-ping');
  const rate = calls / (Number(process.hrtime.bigint() - t0) / 1e9);
  await qga.close();
  return rate;
}

export async function benchQga(): Promise<void> {
  const agent = await startAgent();
  try {
    const ours: number[] = [];
    const raw: number[] = [];
    // Short rounds, taking turns which goes first: the machine's drifts hit both alike.
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2) raw.push(await rawRate(agent.path, CALLS / ROUNDS));
      ours.push(await oursRate(agent.path, CALLS / ROUNDS));
      if (!(r % 2)) raw.push(await rawRate(agent.path, CALLS / ROUNDS));
    }
    report({
      name: 'qga-ping-vs-raw-node',
      ours: median(ours),
      baseline: median(raw),
      unit: '/s',
      better: 'higher',
      goal: 0.9,
    });
  } finally {
    await agent.kill();
  }
}
