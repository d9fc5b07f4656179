/**
 * Version matching for the package's main entry (`qapi-ts`): its types are
 * the newest release's, but a QEMU older than that release lacks what came
 * after, so arguments are checked against the newest generated release that
 * is not newer than the QEMU that answered (its greeting says which), loaded
 * on demand. A QEMU newer than every release is checked against the newest,
 * with a warning, once per process. Pinned entries (`qapi-ts/qemu-<V>`) do
 * not match: they are what they say.
 */
import type { RuntimeTable } from '../schema/table.js';
import type { SchemaDescriptor } from '../schema/descriptor.js';
import { connect, type CommandMap, type ConnectQmp, type VersionData } from './client.js';

export interface ReleaseData {
  schema: SchemaDescriptor;
  table: RuntimeTable;
}

/** A generated release the main entry can switch to (older than the types' release, or newer, from introspection), loaded when a QEMU of its version connects. */
export interface OlderRelease {
  release: string;
  load(): Promise<ReleaseData>;
}

let warned = false;

/** 'major.minor' as numbers, for ordering. */
function parse(release: string): [number, number] {
  const [major, minor] = release.split('.').map(Number);
  return [major, minor];
}

function notNewer(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] <= b[1]);
}

/**
 * The release to check against for a QEMU of `version`: the newest not
 * newer than it, else the oldest. A micro of 90 or more is a release
 * candidate of the next release (10.1.90 is 10.2-rc0): the next known one.
 */
export function nearestRelease(version: readonly [number, number, number?], releases: readonly string[]): string {
  const sorted = [...releases].sort((a, b) => (notNewer(parse(a), parse(b)) ? -1 : 1));
  const mm: [number, number] = [version[0], version[1]];
  if ((version[2] ?? 0) >= 90) {
    const next = sorted.find((r) => !notNewer(parse(r), mm));
    if (next) return next;
  }
  const fitting = sorted.filter((r) => notNewer(parse(r), mm));
  return fitting.length ? fitting[fitting.length - 1] : sorted[0];
}

/** Whether a QEMU of `version` is newer than `release` (a candidate of the release after it counts). */
function newerThan(version: readonly [number, number, number], release: string): boolean {
  const r = parse(release);
  return !notNewer([version[0], version[1]], r) || (version[0] === r[0] && version[1] === r[1] && version[2] >= 90);
}

/** The main entry's connectQmp: the newest release's types, the matching release's checks. */
export function bindMatching<C extends CommandMap<C>, E, M>(
  newest: VersionData & { release: string },
  older: readonly OlderRelease[],
): ConnectQmp<C, E, M> {
  return async (target, ...rest) => {
    const [options] = rest;
    const client = await connect<C, E, M>(target, newest, options);
    const q = client.greeting.version.qemu;
    const version: [number, number, number] = [q.major, q.minor, q.micro];
    const all = [newest.release, ...older.map((o) => o.release)];
    const pick = nearestRelease(version, all);
    const highest = nearestRelease([Infinity, 0], all);
    if (newerThan(version, highest) && !warned) {
      warned = true;
      process.emitWarning(
        `QEMU ${q.major}.${q.minor}.${q.micro} is newer than every release this qapi-ts knows (the newest is ${highest}): ` +
          `its argument checks are ${highest}'s; validate: 'live' checks against what this QEMU reports instead`,
        { code: 'QAPI_TS_NEWER_QEMU' },
      );
    }
    if (pick === newest.release) return client;
    try {
      const data = await older.find((o) => o.release === pick)!.load();
      client.useRelease({ schema: data.schema, table: data.table, release: pick });
    } catch (e) {
      await client.close();
      throw e;
    }
    return client;
  };
}
