/**
 * Other runtimes: the package as npm publishes it (`npm pack`, installed in a
 * temp project, support/packed.ts), imported by name and run under Node, Bun
 * and Deno (both devDependencies, from npm) by the programs of
 * test/fixtures/runtimes/: smoke.mjs against a real QEMU 7.2 and qemu-ga,
 * fakes.mjs against the package's own fakes (`qapi-ts/testing`). Every
 * runtime must print exactly the same results, and nothing else on stderr
 * than the warning the smoke test asks for: a runtime difference fails here.
 * Each program must also exit by itself once closed (a timer or socket left
 * holding the process shows as a timeout). Deno runs with only the
 * permissions a QMP program needs (its sockets, its environment variables)
 * and no network; its caches stay in the temp project. A missing bun or deno
 * fails these tests; it never skips them.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from './support/agent.js';
import { packAndInstall } from './support/packed.js';
import { ROOT } from './support/qemu-sources.js';
import { startQemu, tempDir } from './support/qemu.js';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'runtimes');
const RUNTIMES = ['node', 'bun', 'deno'] as const;
type Runtime = (typeof RUNTIMES)[number];

/** What a program may touch: its environment (every name in it) and the unix sockets it connects to or listens on. */
interface Access {
  env: Record<string, string>;
  sockets: string[];
}

/** A devDependency's binary; missing, the test fails with how to get it. */
function binary(name: 'bun' | 'deno'): string {
  const file = path.join(ROOT, 'node_modules', '.bin', name);
  if (!existsSync(file)) throw new Error(`${name} is missing (${file}): it is a devDependency, run npm install`);
  return file;
}

/** The command line that runs `program` under `runtime`; Deno gets exactly `access` and nothing else. */
function commandLine(runtime: Runtime, program: string, access: Access): [string, string[]] {
  if (runtime === 'node') return [process.execPath, [program]];
  if (runtime === 'bun') return [binary('bun'), [program]];
  return [
    binary('deno'),
    [
      'run',
      '--no-prompt',
      '--no-remote',
      // The project's node_modules as it is: nothing installed, nothing fetched.
      '--node-modules-dir=manual',
      `--allow-env=${Object.keys(access.env).join(',')}`,
      // Connecting to a unix socket needs read, write and net on its path.
      `--allow-read=${access.sockets.join(',')}`,
      `--allow-write=${access.sockets.join(',')}`,
      `--allow-net=${access.sockets.map((s) => `unix:${s}`).join(',')}`,
      program,
    ],
  ];
}

let project: string;

/** Runs a fixture from the temp project, where `qapi-ts` is installed; its stdout parsed as JSON (as text if it is not). */
function run(
  runtime: Runtime,
  fixture: string,
  access: Access,
): { status: number | null; result: unknown; stderr: string } {
  const [command, args] = commandLine(runtime, fixture, access);
  const r = spawnSync(command, args, {
    cwd: project,
    encoding: 'utf8',
    timeout: 20_000,
    env: {
      ...process.env,
      ...access.env,
      NO_COLOR: '1',
      DENO_DIR: path.join(project, '.deno'),
      DENO_NO_UPDATE_CHECK: '1',
      BUN_RUNTIME_TRANSPILER_CACHE_PATH: path.join(project, '.bun'),
    },
  });
  let result: unknown = r.stdout;
  try {
    result = JSON.parse(r.stdout);
  } catch {
    // Not JSON: the comparison shows what it printed instead.
  }
  return { status: r.status, result, stderr: r.stderr + (r.error ? String(r.error) : '') };
}

/** stderr without what differs between runtimes in how a process warning is printed. */
const warningsOf = (stderr: string): string =>
  stderr
    .split('\n')
    .filter((l) => !/^\(Use `\S+ --trace-warnings/.test(l))
    .map((l) => l.replace(/^\(node:\d+\) /, ''))
    .join('\n');

/** What smoke.mjs prints against QEMU 7.2 and qemu-ga 7.2 (as Node runs it): every runtime must print the same. */
const SMOKE = {
  greeting: { version: '7.2', capabilities: ['oob'], enabled: ['oob'] },
  status: {
    before: { status: 'running', singlestep: false, running: true },
    paused: { status: 'paused', singlestep: false, running: false },
    after: { status: 'running', singlestep: false, running: true },
    events: ['STOP', 'RESUME'],
    timestamp: true,
  },
  error: {
    name: 'QmpError',
    qmpError: true,
    sameClassFromMain: true,
    class: 'CommandNotFound',
    desc: 'The command no-such-command has not been found',
    command: 'no-such-command',
    id: 'number',
  },
  deprecated: {
    class: 'DeviceNotFound',
    warnings: [
      { name: 'Warning', code: 'QAPI_TS_DEPRECATED', message: "eject: $.device: the member 'device' is deprecated" },
    ],
  },
  int64: { type: 'bigint', value: String(2n ** 62n + 512n), exact: true },
  pipelined: { count: 100, inOrder: true, shapes: ['{}', 'status:running'] },
  timeout: { name: 'QmpTimeoutError', timeoutError: true, nextStatus: 'running', lateReplies: 1 },
  closed: { name: 'ConnectionError', connectionError: true },
  qga: {
    ping: {},
    version: '7.2',
    commands: true,
    exec: { exitCode: 3, stdout: 'out arg0', stderr: 'err', buffer: true },
    input: 'from stdin\n',
  },
};

const FAKE_QEMU = {
  version: { major: 7, minor: 2, micro: 0 },
  paused: 'paused',
  name: { name: 'vm1' },
  events: ['STOP', 'RESUME', 'POWERDOWN'],
  error: { qmpError: true, class: 'GenericError', desc: "Failed to find node with node-name='nope'" },
  unknown: 'CommandNotFound',
};
const FAKE_AGENT = {
  ping: {},
  version: '7.2.0',
  exec: { exitCode: 2, stdout: '/bin/echo a b', stderr: [0, 1, 255] },
  blocked: { code: 'command-disabled', class: 'CommandNotFound' },
};
/** What fakes.mjs prints (as Node runs it). */
const FAKES = {
  'qemu-stream': FAKE_QEMU,
  'qemu-unix': FAKE_QEMU,
  qemuProblems: [],
  'agent-stream': FAKE_AGENT,
  'agent-unix': FAKE_AGENT,
  agentProblems: [],
};

beforeAll(() => {
  project = tempDir('rt');
  packAndInstall(ROOT, project);
  for (const f of ['smoke.mjs', 'fakes.mjs', 'typed.ts']) copyFileSync(path.join(FIXTURES, f), path.join(project, f));
});

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('other runtimes', () => {
  it('bun and deno are the versions package.json pins', () => {
    const pins = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, object>)
      .devDependencies as Record<string, string>;
    expect(spawnSync(binary('bun'), ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe(pins.bun);
    expect(spawnSync(binary('deno'), ['--version'], { encoding: 'utf8' }).stdout).toMatch(
      new RegExp(`^deno ${pins.deno.replaceAll('.', '\\.')} `),
    );
  });

  it.each(RUNTIMES)('%s: QMP and the guest agent against QEMU 7.2 and qemu-ga', async (runtime) => {
    const [qemu, agent] = await Promise.all([startQemu(), startAgent()]);
    try {
      const r = run(runtime, 'smoke.mjs', {
        env: { QMP: qemu.qmpPath, QGA: agent.path },
        sockets: [qemu.qmpPath, agent.path],
      });
      expect(r.status, r.stderr).toBe(0);
      expect(warningsOf(r.stderr)).toBe(
        "[QAPI_TS_DEPRECATED] Warning: eject: $.device: the member 'device' is deprecated\n",
      );
      expect(r.result).toEqual(SMOKE);
    } finally {
      await Promise.all([qemu.kill(), agent.kill()]);
    }
  });

  it.each(RUNTIMES)('%s: the fake QEMU and the fake guest agent (qapi-ts/testing)', (runtime) => {
    const dir = tempDir('rtf');
    try {
      const r = run(runtime, 'fakes.mjs', {
        env: { DIR: dir },
        sockets: [path.join(dir, 'fake-qmp.sock'), path.join(dir, 'fake-ga.sock')],
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.result).toEqual(FAKES);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("deno check reads the installed package's types (the only one of the three that type-checks)", () => {
    const r = spawnSync(binary('deno'), ['check', '--no-remote', '--node-modules-dir=manual', 'typed.ts'], {
      cwd: project,
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, NO_COLOR: '1', DENO_DIR: path.join(project, '.deno'), DENO_NO_UPDATE_CHECK: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('Check typed.ts\n');
  });
});
