/**
 * The SDK's end-to-end scenarios (support/scenarios.ts, support/agent-scenarios.ts)
 * run against a real QEMU 7.2 and qemu-ga 7.2 and against the fakes of
 * qapi-ts/testing, in process and on a unix socket: where the fake claims to
 * model QEMU, every side must come to the same outcome. One real peer per
 * block, shared by its scenarios. A missing QEMU fails these tests; it never
 * skips them.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as qga72 from '../generated/qga-7.2/index.js';
import { connectQga, type QgaCommands } from '../generated/qga-7.2/index.js';
import * as qemu72 from '../generated/qemu-7.2/index.js';
import { connectQmp, type QmpCommands, type QmpEvents } from '../generated/qemu-7.2/index.js';
import { createFakeAgent, createFakeQemu, type FakeAgent, type FakeQemu } from '../runtime/testing/index.js';
import { startAgent, type AgentProcess } from './support/agent.js';
import { AGENT_SCENARIOS, FAKE_AGENT_BLOCKED, scriptFakeGuest, type AgentPeer } from './support/agent-scenarios.js';
import { startQemu, tempDir, type QemuProcess } from './support/qemu.js';
import {
  QMP_SCENARIOS,
  REAL_QEMU_ARGS,
  REAL_QEMU_SECOND_MONITOR,
  scriptFakeMachine,
  type QmpPeer,
  type Scenario,
} from './support/scenarios.js';

type Fake = FakeQemu<QmpCommands, QmpEvents>;

/**
 * Runs `scenario` on the sides it names ('real' first) and requires each
 * side's outcome to equal the first one's, and the expected one.
 */
async function check<P>(scenario: Scenario<P>, sides: { real: P; fakes: Record<string, P> }): Promise<void> {
  const run: [string, P][] =
    scenario.runs === 'real-only'
      ? [['real', sides.real]]
      : scenario.runs === 'fake-only'
        ? Object.entries(sides.fakes)
        : [['real', sides.real], ...Object.entries(sides.fakes)];
  const outcomes: [string, unknown][] = [];
  for (const [side, peer] of run) outcomes.push([side, await scenario.run(peer)]);
  const [[first, reference], ...others] = outcomes;
  for (const [side, result] of others) expect(result, `${side} differs from ${first}`).toEqual(reference);
  if (scenario.expected !== undefined)
    expect(reference, `${first}: not the expected outcome`).toEqual(scenario.expected);
}

const label = (s: Scenario<unknown>): string =>
  `${s.name} [${s.runs}${s.scripted ? `; scripted: ${s.scripted.join(', ')}` : ''}]`;

describe.each(['none', 'pc'] as const)('QMP scenarios: QEMU 7.2 -machine %s and the fake', (machine) => {
  const scenarios = QMP_SCENARIOS.filter((s) => (s.machine ?? 'none') === machine);
  let qemu: QemuProcess;
  let fakeDir: string;
  const fakes: Fake[] = [];
  const disposables: { kill(): Promise<unknown> }[] = [];
  let real: QmpPeer;
  let inProcess: QmpPeer;
  let onSocket: QmpPeer;

  beforeAll(async () => {
    qemu = await startQemu({
      machine,
      args: [...(machine === 'pc' ? ['-S'] : []), ...REAL_QEMU_ARGS],
      waitFor: [REAL_QEMU_SECOND_MONITOR],
    });
    // The fakes say the same version and package as this QEMU build: then even the greetings match.
    const probe = await connectQmp({ path: qemu.qmpPath });
    const { qemu: v, package: pkg } = probe.greeting.version;
    await probe.close();
    const version = `${v.major}.${v.minor}.${v.micro}`;
    const makeFake = (): Fake => {
      const fake = createFakeQemu<QmpCommands, QmpEvents>({ release: qemu72, version, package: pkg });
      scriptFakeMachine(fake);
      fakes.push(fake);
      return fake;
    };
    fakeDir = tempDir('qsc');
    const fake = makeFake();
    const fakePath = await fake.listen({ path: path.join(fakeDir, 'fake.sock') });
    let spare = 0;
    real = {
      dir: qemu.dir,
      target: async () => ({ path: qemu.qmpPath }),
      secondTarget: async () => ({ path: REAL_QEMU_SECOND_MONITOR.replace('{dir}', qemu.dir) }),
      disposable: async () => {
        const other = await startQemu({ args: ['-blockdev', 'null-co,node-name=n0'] });
        disposables.push(other);
        return { target: async () => ({ path: other.qmpPath }), kill: async () => void (await other.kill()) };
      },
    };
    inProcess = {
      dir: fakeDir,
      target: async () => ({ stream: fake.connectStream() }),
      secondTarget: async () => ({ stream: fake.connectStream() }),
      disposable: async () => {
        const other = makeFake();
        return { target: async () => ({ stream: other.connectStream() }), kill: () => other.close() };
      },
    };
    onSocket = {
      dir: fakeDir,
      target: async () => ({ path: fakePath }),
      secondTarget: async () => ({ path: fakePath }),
      disposable: async () => {
        const other = makeFake();
        const where = await other.listen({ path: path.join(fakeDir, `spare${++spare}.sock`) });
        return { target: async () => ({ path: where }), kill: () => other.close() };
      },
    };
  });
  afterAll(async () => {
    for (const f of fakes) await f.close();
    for (const d of disposables) await d.kill();
    if (fakeDir) rmSync(fakeDir, { recursive: true, force: true });
    await qemu?.kill();
  });

  for (const scenario of scenarios)
    it(label(scenario), () =>
      check(scenario, { real, fakes: { 'fake in process': inProcess, 'fake on a socket': onSocket } }),
    );

  it('the fakes saw no mistake in their scripts', () => {
    expect(fakes.flatMap((f) => f.problems)).toEqual([]);
  });
});

describe('guest-agent scenarios: qemu-ga 7.2 and the fake', () => {
  let ga: AgentProcess;
  let fakeDir: string;
  const fakes: FakeAgent<QgaCommands>[] = [];
  let real: AgentPeer;
  let inProcess: AgentPeer;
  let onSocket: AgentPeer;

  beforeAll(async () => {
    ga = await startAgent();
    // The fakes say the same version as this qemu-ga build.
    const probe = await connectQga({ path: ga.path });
    const { version } = await probe.cmd.guestInfo();
    await probe.close();
    const makeFake = (blocked: readonly string[] = FAKE_AGENT_BLOCKED): FakeAgent<QgaCommands> => {
      const fake = createFakeAgent<QgaCommands>({ release: qga72, version, blocked });
      scriptFakeGuest(fake);
      fakes.push(fake);
      return fake;
    };
    /** A fake's stall: a handler that waits (and so holds what comes behind it) until released. */
    const stall = (fake: FakeAgent<QgaCommands>, command: keyof QgaCommands): (() => void) => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      fake.on(command, async (_args, ctx) => {
        await new Promise<void>((resolve) => {
          void gate.then(resolve);
          ctx.signal.addEventListener('abort', () => resolve());
        });
        return undefined;
      });
      return () => {
        fake.off(command);
        release();
      };
    };
    fakeDir = tempDir('qsa');
    const fake = makeFake();
    const fakePath = await fake.listen({ path: path.join(fakeDir, 'fake.sock') });
    let spare = 0;
    real = {
      dir: ga.dir,
      target: async () => ({ path: ga.path }),
      stall: () => {
        ga.pause();
        return () => ga.resume();
      },
    };
    inProcess = {
      dir: fakeDir,
      target: async () => ({ stream: fake.connectStream() }),
      stall: (command) => stall(fake, command),
      unblocked: async () => {
        const other = makeFake([]);
        return { target: async () => ({ stream: other.connectStream() }), close: () => other.close() };
      },
    };
    onSocket = {
      dir: fakeDir,
      target: async () => ({ path: fakePath }),
      stall: (command) => stall(fake, command),
      unblocked: async () => {
        const other = makeFake([]);
        const where = await other.listen({ path: path.join(fakeDir, `spare${++spare}.sock`) });
        return { target: async () => ({ path: where }), close: () => other.close() };
      },
    };
  });
  afterAll(async () => {
    for (const f of fakes) await f.close();
    if (fakeDir) rmSync(fakeDir, { recursive: true, force: true });
    await ga?.kill();
  });

  for (const scenario of AGENT_SCENARIOS)
    it(label(scenario), () =>
      check(scenario, { real, fakes: { 'fake in process': inProcess, 'fake on a socket': onSocket } }),
    );

  it('the fakes saw no mistake in their scripts', () => {
    expect(fakes.flatMap((f) => f.problems)).toEqual([]);
  });
});

describe('the scenario lists', () => {
  it('say why each one-sided scenario is one-sided; names are unique', () => {
    const lists: readonly (readonly { name: string; runs: string; why?: string }[])[] = [
      QMP_SCENARIOS,
      AGENT_SCENARIOS,
    ];
    for (const list of lists) {
      for (const s of list) if (s.runs !== 'both') expect(s.why, s.name).toMatch(/\w/);
      expect(new Set(list.map((s) => s.name)).size).toBe(list.length);
    }
  });
});
