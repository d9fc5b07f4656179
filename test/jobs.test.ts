/**
 * runJob's state machine against a scripted host: the orders and races a
 * real QEMU produces rarely or never on demand (events before the start
 * command's reply, a job that never ends after a cancel, the connection
 * closing mid-job). The real jobs run in backup-e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { runJob, JobError, type JobHost, type JobProgress } from '../runtime/block/jobs.js';
import { ConnectionError, QmpAbortError, QmpTimeoutError } from '../runtime/errors.js';
import type { QmpEvent } from '../runtime/qmp/events.js';
import type { JsonObject } from '../runtime/wire/framing.js';
import type { JsonValue } from '../runtime/wire/json.js';

type Handler = (args: JsonObject | undefined) => JsonValue | Promise<JsonValue>;

class FakeHost implements JobHost {
  readonly calls: [string, JsonObject | undefined][] = [];
  private readonly listeners = new Set<(e: QmpEvent<string, JsonValue>) => void>();
  private readonly closers = new Set<(e: ConnectionError) => void>();
  jobs: JsonObject[] = [];
  constructor(private readonly handlers: Record<string, Handler> = {}) {}

  async executeRaw(command: string, args?: JsonObject): Promise<JsonValue> {
    this.calls.push([command, args]);
    const h = this.handlers[command];
    if (h) return h(args);
    if (command === 'query-jobs') return this.jobs;
    return {};
  }
  onAny(listener: (e: QmpEvent<string, JsonValue>) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => void this.listeners.delete(listener) };
  }
  onClose(listener: (e: ConnectionError) => void): { dispose(): void } {
    this.closers.add(listener);
    return { dispose: () => void this.closers.delete(listener) };
  }
  get listening(): number {
    return this.listeners.size + this.closers.size;
  }
  emit(event: string, data: JsonObject): void {
    for (const l of [...this.listeners]) l({ event, data, timestamp: { seconds: 0, microseconds: 0 } });
  }
  status(id: string, ...statuses: string[]): void {
    for (const status of statuses) this.emit('JOB_STATUS_CHANGE', { id, status });
  }
  close(e: ConnectionError): void {
    for (const c of [...this.closers]) c(e);
  }
  commands(): string[] {
    return this.calls.map(([c]) => c);
  }
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('runJob', () => {
  it('follows a job from created to concluded, reads it, dismisses it (it owns that step), and resolves', async () => {
    const host = new FakeHost();
    const run = runJob(
      host,
      async () => {
        // Events may come before the start command's reply: the runner listens already.
        host.status('j1', 'created', 'running');
        return {};
      },
      { id: 'j1', autoDismiss: false },
    );
    await tick();
    host.jobs = [{ id: 'j1', type: 'backup', status: 'concluded', 'current-progress': 100, 'total-progress': 100 }];
    host.status('j1', 'waiting', 'pending', 'concluded');
    const r = await run;
    expect(r).toMatchObject({ id: 'j1', type: 'backup', current: 100, total: 100, cancelled: false });
    expect(r.statuses).toEqual(['created', 'running', 'waiting', 'pending', 'concluded']);
    expect(host.commands()).toContain('job-dismiss');
    expect(host.listening).toBe(0);
  });

  it('ignores other jobs', async () => {
    const host = new FakeHost();
    const run = runJob(host, async () => ({}), { id: 'mine' });
    await tick();
    host.status('other', 'concluded', 'null');
    host.emit('BLOCK_JOB_COMPLETED', { device: 'other', error: 'boom', type: 'backup', len: 0, offset: 0, speed: 0 });
    let done = false;
    void run.then(() => (done = true));
    await tick();
    expect(done).toBe(false);
    host.status('mine', 'concluded', 'null');
    await expect(run).resolves.toMatchObject({ id: 'mine', statuses: expect.arrayContaining(['concluded']) });
  });

  it('completes a ready job by default; cancels it on request; or lets onReady decide later', async () => {
    const host = new FakeHost();
    const a = runJob(host, async () => ({}), { id: 'm1' });
    await tick();
    host.status('m1', 'running', 'ready');
    await tick();
    expect(host.calls).toContainEqual(['job-complete', { id: 'm1' }]);
    host.status('m1', 'concluded', 'null');
    await a;

    const b = runJob(host, async () => ({}), { id: 'm2', onReady: 'cancel' });
    await tick();
    host.status('m2', 'ready');
    await tick();
    // Not forced: a ready mirror finishes its last sync, and QEMU calls that completed.
    expect(host.calls).toContainEqual(['block-job-cancel', { device: 'm2', force: false }]);
    host.emit('BLOCK_JOB_COMPLETED', { device: 'm2', type: 'mirror', len: 1, offset: 1, speed: 0 });
    host.status('m2', 'concluded', 'null');
    // A cancel asked for is how a ready mirror ends without pivoting: a success.
    await expect(b).resolves.toMatchObject({ cancelled: true });

    let later: (() => Promise<void>) | undefined;
    const c = runJob(host, async () => ({}), { id: 'm3', onReady: (job) => void (later = () => job.complete()) });
    await tick();
    host.status('m3', 'ready');
    await tick();
    expect(host.calls).not.toContainEqual(['job-complete', { id: 'm3' }]);
    await later!();
    expect(host.calls).toContainEqual(['job-complete', { id: 'm3' }]);
    host.status('m3', 'concluded', 'null');
    await c;
  });

  it('finalizes a pending job when auto-finalize is off', async () => {
    const host = new FakeHost();
    const run = runJob(host, async () => ({}), { id: 'f', autoFinalize: false });
    await tick();
    host.status('f', 'pending');
    await tick();
    expect(host.calls).toContainEqual(['job-finalize', { id: 'f' }]);
    host.status('f', 'concluded', 'null');
    await run;
  });

  it("rejects with JobError carrying QEMU's error, from query-jobs or, auto-dismissed, from BLOCK_JOB_COMPLETED", async () => {
    const host = new FakeHost();
    const a = runJob(host, async () => ({}), { id: 'e1', autoDismiss: false });
    await tick();
    host.jobs = [{ id: 'e1', type: 'backup', status: 'concluded', error: 'No space left on device' }];
    host.status('e1', 'running', 'aborting', 'concluded');
    await expect(a).rejects.toMatchObject({
      name: 'JobError',
      code: 'job-failed',
      error: 'No space left on device',
      jobType: 'backup',
    });
    expect(host.commands()).toContain('job-dismiss');

    host.jobs = [];
    const b = runJob(host, async () => ({}), { id: 'e2' });
    await tick();
    host.emit('BLOCK_JOB_COMPLETED', {
      device: 'e2',
      type: 'stream',
      error: 'Input/output error',
      len: 1,
      offset: 0,
      speed: 0,
    });
    host.status('e2', 'concluded', 'null');
    const err = await b.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobError);
    expect(err).toMatchObject({ code: 'job-failed', error: 'Input/output error', jobType: 'stream' });

    // A cancel nobody asked the runner for (someone else's job-cancel) is no success.
    const c = runJob(host, async () => ({}), { id: 'e3' });
    await tick();
    host.emit('BLOCK_JOB_CANCELLED', { device: 'e3', type: 'backup', len: 1, offset: 0, speed: 0 });
    host.status('e3', 'aborting', 'concluded', 'null');
    await expect(c).rejects.toMatchObject({ code: 'job-cancelled' });
  });

  it('refuses an id a job has already, without starting anything', async () => {
    const host = new FakeHost();
    host.jobs = [{ id: 'dup', type: 'backup', status: 'concluded' }];
    let started = false;
    await expect(runJob(host, async () => void (started = true), { id: 'dup' })).rejects.toMatchObject({
      name: 'JobUsageError',
      code: 'job-exists',
    });
    expect(started).toBe(false);
  });

  it('succeeds when the job concluded without error, even if an abort came too late to stop it', async () => {
    const host = new FakeHost({
      'block-job-cancel': () =>
        Promise.reject(new Error("Job 'late' in state 'concluded' cannot accept command verb 'cancel'")),
    });
    const ac = new AbortController();
    const run = runJob(host, async () => ({}), { id: 'late', signal: ac.signal });
    await tick();
    host.status('late', 'running', 'waiting', 'pending');
    ac.abort();
    host.jobs = [{ id: 'late', type: 'backup', status: 'concluded' }];
    host.status('late', 'concluded');
    await expect(run).resolves.toMatchObject({ id: 'late' });
  });

  it('a job stopped on an I/O error is cancelled and rejects (on-*-error stop), instead of waiting forever', async () => {
    const host = new FakeHost();
    const run = runJob(host, async () => ({}), { id: 'io' });
    run.catch(() => undefined); // it may reject before the assertion awaits it
    await tick();
    host.status('io', 'running');
    host.emit('BLOCK_JOB_ERROR', { device: 'io', operation: 'write', action: 'stop' });
    host.status('io', 'paused');
    await tick();
    expect(host.calls).toContainEqual(['block-job-cancel', { device: 'io', force: true }]);
    host.emit('BLOCK_JOB_CANCELLED', { device: 'io', type: 'backup', len: 1, offset: 0, speed: 0 });
    host.status('io', 'aborting', 'concluded', 'null');
    await expect(run).rejects.toMatchObject({ name: 'JobError', error: expect.stringMatching(/I\/O error on write/) });
  });

  it('a failing step of the runner (onReady throws) cancels the job rather than leaving it', async () => {
    const host = new FakeHost();
    const run = runJob(host, async () => ({}), {
      id: 'r',
      onReady: () => {
        throw new Error('decision failed');
      },
    });
    run.catch(() => undefined); // it may reject before the assertion awaits it
    await tick();
    host.status('r', 'ready');
    await tick();
    await tick();
    expect(host.calls).toContainEqual(['block-job-cancel', { device: 'r', force: true }]);
    await expect(run).rejects.toThrow('decision failed');
  });

  it("rejects with start's own error, leaving no listener", async () => {
    const host = new FakeHost();
    await expect(runJob(host, () => Promise.reject(new Error('Job ID already in use')), { id: 'x' })).rejects.toThrow(
      'Job ID already in use',
    );
    expect(host.listening).toBe(0);
    await expect(runJob(host, async () => ({}), { id: '' })).rejects.toThrow(/options.id/);
  });

  it('on abort: cancels the job (forced), waits for it to end, rejects with QmpAbortError', async () => {
    const host = new FakeHost();
    const ac = new AbortController();
    const run = runJob(host, async () => ({}), { id: 'a1', signal: ac.signal });
    await tick();
    host.status('a1', 'running');
    ac.abort(new Error('user'));
    await tick();
    expect(host.calls).toContainEqual(['block-job-cancel', { device: 'a1', force: true }]);
    let settled = false;
    void run.catch(() => (settled = true));
    await tick();
    expect(settled).toBe(false); // not before the job has ended
    host.emit('BLOCK_JOB_CANCELLED', { device: 'a1', type: 'backup', len: 1, offset: 0, speed: 0 });
    host.status('a1', 'aborting', 'concluded', 'null');
    await expect(run).rejects.toBeInstanceOf(QmpAbortError);

    // Aborted before it started: nothing is started.
    let started = false;
    await expect(
      runJob(host, async () => void (started = true), { id: 'a2', signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(QmpAbortError);
    expect(started).toBe(false);
  });

  it('cancels a job that is not a block job with job-cancel', async () => {
    const host = new FakeHost({
      'block-job-cancel': () => Promise.reject(new Error("Block job 'c1' not found")),
    });
    const ac = new AbortController();
    const run = runJob(host, async () => ({}), { id: 'c1', signal: ac.signal });
    await tick();
    ac.abort();
    await tick();
    await tick();
    expect(host.calls).toContainEqual(['job-cancel', { id: 'c1' }]);
    host.status('c1', 'aborting', 'concluded', 'null');
    await expect(run).rejects.toBeInstanceOf(QmpAbortError);
  });

  it('on timeout: cancels, and gives up on a job that never ends after cancelTimeout', async () => {
    const host = new FakeHost();
    const run = runJob(host, async () => ({}), { id: 't1', timeout: 20, cancelTimeout: 30 });
    const err = await run.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect((err as Error).message).toMatch(/did not end after job-cancel/);
    expect(host.commands()).toContain('block-job-cancel');
  });

  it('rejects with the connection error when the connection closes mid-job', async () => {
    const host = new FakeHost();
    const run = runJob(host, async () => ({}), { id: 'k' });
    await tick();
    host.close(new ConnectionError('closed', 'connection closed by QEMU'));
    await expect(run).rejects.toBeInstanceOf(ConnectionError);
    expect(host.listening).toBe(0);
  });

  it('reports monotone progress, and a throwing listener does not stop the job', async () => {
    const values = [10, 40, 30, 80];
    let first = true;
    const host = new FakeHost({
      // The first query is the runner's check that no job has the id yet.
      'query-jobs': () => {
        if (first) return ((first = false), []);
        return [
          {
            id: 'p',
            type: 'backup',
            status: 'running',
            'current-progress': values.shift() ?? 80,
            'total-progress': 100,
          },
        ];
      },
    });
    const seen: JobProgress[] = [];
    const run = runJob(host, async () => ({}), {
      id: 'p',
      progressInterval: 5,
      onProgress: (p) => {
        seen.push(p);
        throw new Error('listener bug');
      },
    });
    await tick();
    host.status('p', 'running');
    await new Promise((r) => setTimeout(r, 60));
    host.status('p', 'concluded', 'null');
    await run;
    const currents = seen.map((p) => p.current);
    expect(currents.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < currents.length; i++) expect(currents[i]).toBeGreaterThanOrEqual(currents[i - 1]);
  });
});
