/**
 * Getting a byte stream to a QMP peer: a unix socket, TCP, any Duplex the
 * caller made (TLS, pipes, test doubles), or a listening socket QEMU connects
 * to (`-qmp unix:PATH,server=off`). Every wait is bounded by a timeout and an
 * optional AbortSignal.
 */
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { deadline, type Deadline } from '../core/deadline.js';
import { ConnectionError, describeThrown, QmpUsageError } from '../errors.js';
import type { LibvirtTarget } from '../libvirt/bridge.js';

export type Target =
  | { path: string }
  | { host: string; port: number }
  | { stream: Duplex }
  /** Server mode: listen on this unix path (or port) and take the first peer that connects. */
  | { listen: { path: string } | { host?: string; port: number } }
  /** A libvirt domain, through virsh (runtime/libvirt/): its QMP monitor, or its guest agent. */
  | { libvirt: LibvirtTarget };

export interface OpenOptions {
  /** Milliseconds; 0 waits forever. */
  timeout: number;
  signal?: AbortSignal;
  /** Which peer a libvirt target stands for: the domain's QMP monitor (default) or its guest agent. */
  protocol?: 'qmp' | 'qga';
}

export function describeTarget(t: Target): string {
  if ('libvirt' in t) return `libvirt:${t.libvirt.domain}${t.libvirt.uri ? `@${t.libvirt.uri}` : ''}`;
  if ('path' in t) return `unix:${t.path}`;
  if ('host' in t) return `tcp:${t.host}:${t.port}`;
  if ('listen' in t)
    return 'path' in t.listen
      ? `listen:unix:${t.listen.path}`
      : `listen:tcp:${t.listen.host ?? '127.0.0.1'}:${t.listen.port}`;
  return 'stream';
}

/** Runs `start` with a deadline and the caller's signal; `cleanup` undoes a half-done attempt. */
function bounded<T>(
  what: string,
  opts: OpenOptions,
  start: (resolve: (v: T) => void, reject: (e: Error) => void) => void,
  cleanup: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let limit: Deadline | undefined;
    const finish = (err: Error | undefined, v?: T): void => {
      if (settled) return;
      settled = true;
      limit?.dispose();
      if (err) {
        cleanup();
        reject(err);
      } else resolve(v as T);
    };
    limit = deadline(opts, (why) =>
      finish(
        why.kind === 'abort'
          ? new ConnectionError('connect-failed', `${what}: aborted`, { cause: why.reason })
          : new ConnectionError('connect-timeout', `${what}: no connection within ${opts.timeout} ms`),
      ),
    );
    if (settled) return;
    try {
      start(
        (v) => finish(undefined, v),
        (e) => finish(e),
      );
    } catch (e) {
      finish(
        new ConnectionError('connect-failed', `${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
          cause: e,
        }),
      );
    }
  });
}

const TARGET_SHAPES =
  'target: expected { path }, { host, port } (port 0 to 65535), { stream: Duplex }, { listen: { path } | { host?, port } } or { libvirt: { domain } }';

/** The target as one of its four shapes, nothing else in it; a QmpUsageError otherwise. */
export function checkTarget(t: unknown): Target {
  const o = (typeof t === 'object' && t !== null ? t : {}) as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined);
  const only = (...allowed: string[]): boolean => keys.every((k) => allowed.includes(k));
  const port = (p: unknown): p is number => Number.isInteger(p) && (p as number) >= 0 && (p as number) <= 65535;
  if (typeof o.path === 'string' && o.path.length > 0 && only('path')) return { path: o.path };
  if (typeof o.host === 'string' && port(o.port) && only('host', 'port')) return { host: o.host, port: o.port };
  if (o.stream instanceof Duplex && only('stream')) return { stream: o.stream };
  const lv = (typeof o.libvirt === 'object' && o.libvirt !== null ? o.libvirt : undefined) as
    Record<string, unknown> | undefined;
  if (lv && only('libvirt')) {
    const ok =
      typeof lv.domain === 'string' &&
      lv.domain.length > 0 &&
      (lv.uri === undefined || typeof lv.uri === 'string') &&
      (lv.virsh === undefined || (Array.isArray(lv.virsh) && lv.virsh.every((w) => typeof w === 'string'))) &&
      (lv.agentTimeout === undefined || (Number.isInteger(lv.agentTimeout) && (lv.agentTimeout as number) > 0)) &&
      Object.keys(lv).every((k) => ['domain', 'uri', 'virsh', 'agentTimeout'].includes(k));
    if (ok) return { libvirt: lv as unknown as LibvirtTarget };
    throw new QmpUsageError(
      'bad-option',
      'target: { libvirt: { domain, uri?, virsh?: string[], agentTimeout?: seconds } } (domain: a name, id or UUID)',
    );
  }
  const l = (typeof o.listen === 'object' && o.listen !== null ? o.listen : undefined) as
    Record<string, unknown> | undefined;
  if (l && only('listen')) {
    const lkeys = Object.keys(l).filter((k) => l[k] !== undefined);
    if (typeof l.path === 'string' && l.path.length > 0 && lkeys.every((k) => k === 'path'))
      return { listen: { path: l.path } };
    if (
      port(l.port) &&
      (l.host === undefined || typeof l.host === 'string') &&
      lkeys.every((k) => k === 'host' || k === 'port')
    ) {
      return { listen: l.host === undefined ? { port: l.port } : { host: l.host, port: l.port } };
    }
  }
  const extra = keys.filter((k) => !['path', 'host', 'port', 'stream', 'listen', 'libvirt'].includes(k));
  throw new QmpUsageError(
    'bad-option',
    extra.length ? `${TARGET_SHAPES}; got unknown ${extra.map((k) => `'${k}'`).join(', ')}` : TARGET_SHAPES,
  );
}

/** `target` as checkTarget returned it. */
export function openTransport(target: Target, opts: OpenOptions): Promise<Duplex> {
  const what = describeTarget(target);
  if ('stream' in target) return Promise.resolve(target.stream);
  if ('listen' in target) return listenOnce(target.listen, what, opts);
  if ('libvirt' in target) {
    const lv = target.libvirt;
    // Given up (the deadline, the abort): the bridge's virsh is ended, and one that opens late is closed.
    const giveUp = new AbortController();
    let abandoned = false;
    return bounded<Duplex>(
      `connecting to ${what}`,
      opts,
      (resolve, reject) =>
        // Loaded when used: it spawns processes, which most connections never do.
        void import('../libvirt/bridge.js')
          .then(({ openLibvirt }) => openLibvirt(lv, opts.protocol ?? 'qmp', giveUp.signal))
          .then(
            (stream) => (abandoned ? stream.destroy() : resolve(stream)),
            (e: unknown) =>
              reject(
                e instanceof ConnectionError
                  ? e
                  : new ConnectionError('connect-failed', `${what}: ${describeThrown(e)}`, { cause: e }),
              ),
          ),
      () => {
        abandoned = true;
        giveUp.abort();
      },
    );
  }
  let socket: Socket | undefined;
  return bounded<Duplex>(
    `connecting to ${what}`,
    opts,
    (resolve, reject) => {
      socket = 'path' in target ? netConnect(target.path) : netConnect(target.port, target.host);
      socket.setNoDelay?.(true);
      socket.once('connect', () => {
        socket!.removeAllListeners('error');
        resolve(socket!);
      });
      socket.once('error', (e: NodeJS.ErrnoException) =>
        reject(new ConnectionError('connect-failed', `connecting to ${what}: ${e.code ?? e.message}`, { cause: e })),
      );
    },
    () => socket?.destroy(),
  );
}

function listenOnce(
  where: { path: string } | { host?: string; port: number },
  what: string,
  opts: OpenOptions,
): Promise<Duplex> {
  const server = createServer();
  return bounded<Duplex>(
    `waiting on ${what}`,
    opts,
    (resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(new ConnectionError('connect-failed', `listening on ${what}: ${e.code ?? e.message}`, { cause: e })),
      );
      server.once('connection', (socket) => {
        server.close();
        socket.setNoDelay(true);
        resolve(socket);
      });
      if ('path' in where) server.listen(where.path);
      else server.listen(where.port, where.host ?? '127.0.0.1');
    },
    () => server.close(),
  );
}
