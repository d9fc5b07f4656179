/**
 * How the command line reaches a QEMU or a guest agent: TARGET is a unix
 * socket path, `tcp:HOST:PORT` (also `HOST:PORT`), or `libvirt:DOMAIN[@URI]`
 * (through virsh: the domain's monitor, or its guest agent). The greeting's version
 * picks the release whose schema and docs the CLI uses (the newest not newer
 * than that QEMU), with a warning when the QEMU is newer than every release;
 * arguments are checked against the QEMU's own schema (query-qmp-schema).
 */
import { nearestRelease } from '../runtime/qmp/releases.js';
import { connect, type CommandSpec, type QmpClient } from '../runtime/qmp/client.js';
import { connectAgent, type QgaClient } from '../runtime/qga/client.js';
import type { SchemaDescriptor } from '../runtime/schema/descriptor.js';
import type { RuntimeTable } from '../runtime/schema/table.js';
import type { JsonValue } from '../runtime/wire/json.js';
import type { QmpEvent } from '../runtime/qmp/events.js';
import type { Target } from '../runtime/wire/transport.js';
import { UsageError } from './command.js';
import { releaseFiles } from './drift.js';

export type AnyQmp = QmpClient<Record<string, CommandSpec>, Record<string, JsonValue>, Record<string, never>>;
export type AnyAgent = QgaClient<Record<string, CommandSpec>, Record<string, never>>;

/** A TARGET as the transport takes it. */
/** What a TARGET may be, as help and usage errors say it. */
export const TARGET_FORMS = 'a unix socket path, tcp:HOST:PORT or libvirt:DOMAIN[@URI]';

export function parseTarget(where: string): Target {
  // libvirt:DOMAIN or libvirt:DOMAIN@URI (libvirt's connection URI).
  const lv = /^libvirt:([^@]+)(?:@(.+))?$/.exec(where);
  if (lv) return { libvirt: { domain: lv[1], ...(lv[2] ? { uri: lv[2] } : {}) } };
  const tcp = where.startsWith('tcp:')
    ? /^tcp:(\[[^\]]+\]|[^/:]+):(\d+)$/.exec(where)
    : /^(\[[^\]]+\]|[^/:]+):(\d+)$/.exec(where);
  if (tcp) {
    const port = Number(tcp[2]);
    if (port > 65535) throw new UsageError(`'${where}': port ${port} is beyond 65535`);
    return { host: tcp[1].replace(/^\[|\]$/g, ''), port };
  }
  if (where.startsWith('tcp:')) throw new UsageError(`'${where}': a TCP target is tcp:HOST:PORT`);
  return { path: where };
}

export interface Release {
  release: string;
  schema: SchemaDescriptor;
  table: RuntimeTable;
}

const byVersion = (x: string, y: string): number => {
  const [a, b] = [x, y].map((v) => v.split('.').map(Number));
  return a[0] - b[0] || a[1] - b[1];
};

/** The generated releases of one kind, oldest first. */
export function releases(prefix: 'qemu' | 'qga'): string[] {
  return [...releaseFiles(prefix).keys()].sort(byVersion);
}

/** A generated release's schema and table (from the bundle of an installed package, or generated/). */
export async function loadRelease(prefix: 'qemu' | 'qga', release: string): Promise<Release> {
  const file = releaseFiles(prefix).get(release);
  if (!file)
    throw new UsageError(
      `no ${prefix === 'qga' ? 'guest-agent' : 'QMP'} release ${release} (have: ${releases(prefix).join(', ')})`,
    );
  const m = (await import(file)) as { schema: SchemaDescriptor; table: RuntimeTable };
  return { release, schema: m.schema, table: m.table };
}

export interface Connected<T> {
  client: T;
  release: Release;
  /**
   * Events that came while connecting (the handshake, the schema fetch), in
   * order: subscribe right after the await and handle these first, and none is lost.
   */
  early: QmpEvent<string, JsonValue>[];
}

/**
 * Connects to QMP at `where`; the release is `release` when given, else the
 * one matching the greeting. `warn` gets a line when the QEMU is newer than
 * every release (its arguments are still checked against its own schema).
 */
export async function connectQmpCli(
  where: string,
  options: { release?: string; warn?: (line: string) => void; timeout?: number } = {},
): Promise<Connected<AnyQmp>> {
  const target = parseTarget(where);
  // The tap sees every event before the client dispatches it: until the caller can listen, keep them.
  const early: QmpEvent<string, JsonValue>[] = [];
  let keeping = true;
  const client = (await connect(
    target,
    {},
    {
      validate: 'live',
      ...(options.timeout ? { connectTimeout: options.timeout } : {}),
      tap: (t) => {
        const m = t.message;
        if (keeping && t.direction === 'in' && typeof m.event === 'string')
          early.push({ event: m.event, data: m.data, timestamp: m.timestamp } as QmpEvent<string, JsonValue>);
      },
    },
  )) as unknown as AnyQmp;
  try {
    const q = client.greeting.version.qemu;
    const all = releases('qemu');
    const pick = options.release ?? nearestRelease([q.major, q.minor, q.micro], all);
    const newest = all[all.length - 1];
    if (!options.release && byVersion(`${q.major}.${q.minor}`, newest) > 0)
      options.warn?.(
        `QEMU ${q.major}.${q.minor}.${q.micro} is newer than every release this qapi-ts knows (the newest is ${newest}): ` +
          `its docs and completion are ${newest}'s; arguments are checked against the QEMU's own schema`,
      );
    const release = await loadRelease('qemu', pick);
    client.useRelease(release);
    // From the caller's next line on, its own listener takes them (same tick: nothing falls between).
    queueMicrotask(() => (keeping = false));
    return { client, release, early };
  } catch (e) {
    await client.close();
    throw e;
  }
}

/** Connects to a guest agent at `where`, with the newest guest-agent release (or `release`). */
export async function connectQgaCli(
  where: string,
  options: { release?: string; timeout?: number } = {},
): Promise<Connected<AnyAgent>> {
  const all = releases('qga');
  const release = await loadRelease('qga', options.release ?? all[all.length - 1]);
  const client = await connectAgent<Record<string, CommandSpec>, Record<string, never>>(parseTarget(where), release, {
    ...(options.timeout ? { timeout: options.timeout, connectTimeout: options.timeout } : {}),
  });
  return { client, release, early: [] };
}
