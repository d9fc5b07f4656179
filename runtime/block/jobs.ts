/**
 * Running a QEMU job (backup, mirror, commit, stream, blockdev-create...)
 * to its end: `runJob(qmp, start, { id })`.
 *
 * A job is a small state machine QEMU reports through JOB_STATUS_CHANGE
 * (created, running, paused, ready, standby, waiting, pending, aborting,
 * concluded, null; docs/devel/... and qapi/job.json). The runner listens
 * before it starts the job (so no event is missed), answers the states that
 * wait for the client (ready: complete or cancel; pending: finalize when
 * auto-finalize is off), reads the job's error from query-jobs once it has
 * concluded, and dismisses the job when it owns that step (auto-dismiss off),
 * so that QEMU forgets it. Progress comes from query-jobs, polled only when
 * someone listens: QEMU sends no progress events.
 */
import { excerpt, type CallOptions } from '../core/calls.js';
import { deadline } from '../core/deadline.js';
import { QmpAbortError, QmpTimeoutError, type ConnectionError } from '../errors.js';
import { JobError, JobUsageError } from './errors.js';

export { JobError, JobUsageError, type JobErrorCode } from './errors.js';
import type { Disposable, QmpEvent } from '../qmp/events.js';
import type { JsonObject } from '../wire/framing.js';
import type { JsonValue } from '../wire/json.js';

/** What the runner needs of a client: any release's QmpClient has it. */
export interface JobHost {
  executeRaw(command: string, args?: JsonObject, options?: CallOptions): Promise<JsonValue>;
  onAny(listener: (event: QmpEvent<string, JsonValue>) => void): Disposable;
  onClose(listener: (reason: ConnectionError) => void): Disposable;
}

export type JobStatus =
  | 'undefined'
  | 'created'
  | 'running'
  | 'paused'
  | 'ready'
  | 'standby'
  | 'waiting'
  | 'pending'
  | 'aborting'
  | 'concluded'
  | 'null';

export interface JobProgress {
  id: string;
  status: JobStatus;
  /** Work done and total work, in the job's own unit (bytes for block jobs); total may grow while it runs. */
  current: number;
  total: number;
}

/** What a ready job (a mirror in sync) is told to do; `onReady` may also decide later through this. */
export interface JobControl {
  readonly id: string;
  /** job-complete: a mirror pivots to its target, a commit of the active layer finishes. */
  complete(): Promise<void>;
  /** job-cancel: once ready, a mirror stops without pivoting, and that is a success. */
  cancel(): Promise<void>;
}

export interface RunJobOptions {
  /** The job's id, as `start` passes it (`job-id`). */
  id: string;
  /** Cancels the job (job-cancel, forced), waits for it to end, and rejects with QmpAbortError. */
  signal?: AbortSignal;
  /** Milliseconds for the whole job; then as an abort, rejecting with QmpTimeoutError. */
  timeout?: number;
  /** Called with monotone progress while the job runs (query-jobs every `progressInterval` ms), and once at the end. */
  onProgress?: (progress: JobProgress) => void;
  /** Default 250. */
  progressInterval?: number;
  /** Called with each status the job passes through. */
  onStatus?: (status: JobStatus) => void;
  /**
   * What `start` asked for ('auto-finalize', default true as in QEMU): when false, the runner
   * finalizes the job when it is pending.
   */
  autoFinalize?: boolean;
  /**
   * What `start` asked for ('auto-dismiss', default true as in QEMU). Either way, a job QEMU still
   * lists once concluded is read (its error) and dismissed by the runner; with auto-dismiss on, QEMU
   * forgets a job as it concludes and its error is known only from BLOCK_JOB_COMPLETED (block jobs
   * only), so false is recommended.
   */
  autoDismiss?: boolean;
  /**
   * When the job is ready (a mirror in sync, an active commit): 'complete' (the default) or 'cancel',
   * or a function that decides, now or later, through its JobControl.
   */
  onReady?: 'complete' | 'cancel' | ((job: JobControl) => void | Promise<void>);
  /** How long to wait for a cancelled job to end before giving up on it (ms, default 30000). */
  cancelTimeout?: number;
  /**
   * A job started with on-source-error / on-target-error 'stop' pauses on an I/O error
   * (BLOCK_JOB_ERROR): 'cancel' (the default) cancels it and rejects with JobError; 'resume' retries.
   */
  onIoError?: 'cancel' | 'resume';
}

export interface JobResult {
  id: string;
  /** The job's type from query-jobs ('backup', 'mirror', 'commit', 'stream', 'create'...), when seen. */
  type?: string;
  /** The last progress seen. */
  current: number;
  total: number;
  /** Every status the job went through, in order. */
  statuses: JobStatus[];
  /** True when the job ended by a cancel the caller asked for through onReady ('cancel' or JobControl). */
  cancelled: boolean;
}

const isObject = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: JsonValue | undefined): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : 0);

/** The job's entry in query-jobs, if QEMU still has it. */
async function queryJob(host: JobHost, id: string): Promise<JsonObject | undefined> {
  const jobs = await host.executeRaw('query-jobs');
  return Array.isArray(jobs) ? jobs.filter(isObject).find((j) => j.id === id) : undefined;
}

/**
 * Starts a job with `start` (a function that issues the command creating it,
 * with `job-id` set to `options.id`) and resolves when it has concluded
 * successfully; rejects with JobError when it failed or was cancelled, with
 * QmpAbortError / QmpTimeoutError after cancelling it on `signal` / `timeout`,
 * with the connection's error if it closes, or with `start`'s own error.
 */
export function runJob(host: JobHost, start: () => Promise<unknown>, options: RunJobOptions): Promise<JobResult> {
  const { id } = options;
  if (typeof id !== 'string' || !id)
    return Promise.reject(new TypeError('runJob: options.id (the job-id) is required'));
  return new Promise<JobResult>((resolve, reject) => {
    const statuses: JobStatus[] = [];
    let type: string | undefined;
    let current = 0;
    let total = 0;
    let completedError: string | undefined;
    let cancelledByEvent = false;
    let cancelledOnRequest = false;
    let interrupted: Error | undefined;
    let settled = false;
    let queue: Promise<void> = Promise.resolve();
    let poll: ReturnType<typeof setTimeout> | undefined;
    let polling = false;
    let cancelGrace: { dispose(): void } | undefined;
    let limit: { dispose(): void } | undefined;
    const disposables: Disposable[] = [];

    const finish = (error: Error | undefined): void => {
      if (settled) return;
      settled = true;
      for (const d of disposables) d.dispose();
      limit?.dispose();
      cancelGrace?.dispose();
      if (poll) clearTimeout(poll);
      if (error) reject(error);
      else resolve({ id, type, current, total, statuses, cancelled: cancelledOnRequest });
    };

    const progress = (status: JobStatus, job: JsonObject | undefined): void => {
      if (job) {
        type = typeof job.type === 'string' ? job.type : type;
        // Monotone: QEMU's counters never go back, but a total can grow; a report never goes back either.
        current = Math.max(current, num(job['current-progress']));
        total = Math.max(total, num(job['total-progress']), current);
      }
      if (!options.onProgress) return;
      try {
        options.onProgress({ id, status, current, total });
      } catch {
        // A listener's mistake must not stop the job's bookkeeping.
      }
    };

    const schedulePoll = (): void => {
      if (!options.onProgress || settled || poll) return;
      poll = setTimeout(() => {
        poll = undefined;
        if (polling || settled) return;
        polling = true;
        queryJob(host, id)
          .then((job) => {
            if (!settled && job) progress(job.status as JobStatus, job);
          })
          .catch(() => undefined)
          .finally(() => {
            polling = false;
            schedulePoll();
          });
      }, options.progressInterval ?? 250);
      poll.unref?.();
    };

    /** QEMU no longer has the job, or it is past being cancelled: either way, nothing to cancel. */
    const gone = (e: unknown): boolean =>
      e instanceof Error && /not found|no job|not active|cannot accept command verb/i.test(e.message);
    const isBlockJob = (): boolean => type !== 'create' && type !== 'amend' && !type?.startsWith('snapshot');
    /**
     * Cancels the job. Forced (on abort, timeout, an error): a ready mirror stops at once, unsynced.
     * Not forced (a cancel asked for once ready): block-job-cancel lets a mirror finish its last sync,
     * so that its target is consistent, and QEMU reports that as completed.
     */
    const cancel = async (force: boolean): Promise<void> => {
      if (isBlockJob()) {
        const done = await host.executeRaw('block-job-cancel', { device: id, force }).then(
          () => true,
          (e: unknown) => {
            if (gone(e)) return false;
            throw e;
          },
        );
        if (done) return;
      }
      await host.executeRaw('job-cancel', { id }).catch((e: unknown) => {
        // The job may have ended meanwhile: that is not a failure of the cancel.
        if (!gone(e)) throw e;
      });
    };

    /** A step of the runner failed: the job must not be left behind in QEMU (cancelled, then dismissed). */
    const abandon = (e: unknown): void => {
      if (settled) return;
      const error = e instanceof Error ? e : new Error(String(e));
      interrupted ??= error;
      cancel(true)
        .then(() => queryJob(host, id))
        .then((job) => (job?.status === 'concluded' ? host.executeRaw('job-dismiss', { id }) : undefined))
        .catch(() => undefined)
        .finally(() => finish(error));
    };

    const control: JobControl = {
      id,
      complete: () => host.executeRaw('job-complete', { id }).then(() => undefined),
      cancel: () => {
        cancelledOnRequest = true;
        return cancel(false);
      },
    };

    /** Each status in turn: a reaction (finalize, dismiss...) runs before the next is looked at. */
    const onStatus = async (status: JobStatus): Promise<void> => {
      statuses.push(status);
      try {
        options.onStatus?.(status);
      } catch {
        // As for onProgress.
      }
      switch (status) {
        case 'running':
          schedulePoll();
          return;
        case 'ready': {
          if (interrupted) return;
          const r = options.onReady ?? 'complete';
          if (r === 'complete') await control.complete();
          else if (r === 'cancel') await control.cancel();
          // The caller's decision may take its time: it must not hold up the statuses that follow.
          else
            Promise.resolve()
              .then(() => r(control))
              .catch(abandon);
          return;
        }
        case 'pending':
          if (options.autoFinalize === false && !interrupted) await host.executeRaw('job-finalize', { id });
          return;
        case 'concluded': {
          const job = await queryJob(host, id);
          progress(status, job);
          const error = (typeof job?.error === 'string' ? job.error : undefined) ?? completedError;
          // Still listed once concluded: QEMU waits for a dismiss (auto-dismiss off, and always for
          // blockdev-create); the runner gives it, so that the id can be used again.
          if (job)
            await host
              .executeRaw('job-dismiss', { id })
              .catch((e: unknown) => (gone(e) ? undefined : Promise.reject(e)));
          // Concluded without error and not cancelled: it succeeded, even if an abort came too late to stop it.
          const succeeded = error === undefined && !cancelledByEvent && !statuses.includes('aborting');
          if (succeeded || (cancelledOnRequest && cancelledByEvent && error === undefined)) return finish(undefined);
          if (interrupted) return finish(interrupted);
          if (cancelledByEvent && !cancelledOnRequest)
            return finish(new JobError('job-cancelled', id, type, error, statuses));
          if (error !== undefined && !(cancelledOnRequest && /cancel/i.test(error)))
            return finish(new JobError('job-failed', id, type, error, statuses));
          return finish(undefined);
        }
        case 'null':
          if (completedError === undefined && !cancelledByEvent && !statuses.includes('aborting'))
            return finish(undefined);
          if (interrupted) return finish(interrupted);
          if (cancelledByEvent && !cancelledOnRequest)
            return finish(new JobError('job-cancelled', id, type, completedError, statuses));
          if (completedError !== undefined)
            return finish(new JobError('job-failed', id, type, completedError, statuses));
          return finish(undefined);
        default:
          return;
      }
    };

    disposables.push(
      host.onAny((event) => {
        if (settled || !isObject(event.data)) return;
        const data = event.data;
        if (event.event === 'JOB_STATUS_CHANGE' && data.id === id && typeof data.status === 'string') {
          const status = data.status as JobStatus;
          queue = queue.then(() => onStatus(status)).catch(abandon);
        } else if (data.device === id) {
          // Block jobs say how they ended here too, which is all there is when QEMU auto-dismisses them.
          if (event.event === 'BLOCK_JOB_COMPLETED' && typeof data.error === 'string') completedError = data.error;
          if (event.event === 'BLOCK_JOB_CANCELLED') cancelledByEvent = true;
          if (typeof data.type === 'string') type = data.type;
          // A job stopped on an I/O error (on-source-error / on-target-error 'stop') would wait forever.
          if (event.event === 'BLOCK_JOB_ERROR' && data.action === 'stop') {
            const what = `I/O error on ${typeof data.operation === 'string' ? data.operation : 'an operation'}`;
            if (options.onIoError === 'resume') void host.executeRaw('job-resume', { id }).catch(abandon);
            else {
              completedError ??= `${what} (the job stopped: cancelled)`;
              abandon(new JobError('job-failed', id, type, completedError, statuses));
            }
          }
        }
      }),
      host.onClose((reason) => finish(reason)),
    );

    if (options.signal?.aborted) return finish(new QmpAbortError(`job ${id}`, options.signal.reason));
    let started = false;
    // On abort or timeout: cancel (forced, so a ready mirror does not complete), then wait for the end, bounded.
    const interrupt = (): void => {
      if (settled) return;
      cancel(true).catch((e: unknown) => finish(e as Error));
      cancelGrace = deadline({ timeout: options.cancelTimeout ?? 30_000 }, () =>
        finish(
          new QmpTimeoutError(
            `job ${id}`,
            options.cancelTimeout ?? 30_000,
            true,
            `job '${id}' did not end after job-cancel`,
          ),
        ),
      );
    };
    limit = deadline({ timeout: options.timeout, signal: options.signal }, (why) => {
      interrupted =
        why.kind === 'timeout'
          ? new QmpTimeoutError(
              `job ${id}`,
              options.timeout!,
              true,
              `job '${id}' did not end within ${options.timeout} ms: cancelled`,
            )
          : new QmpAbortError(`job ${id}`, why.reason);
      // A job still being created is cancelled once it exists.
      if (started) interrupt();
    });

    // A job with this id already (a leftover, another caller's): its events are not this one's.
    queryJob(host, id)
      .then((existing) => {
        if (settled) return;
        if (existing)
          throw new JobUsageError(
            `a job '${id}' exists already (${typeof existing.status === 'string' ? existing.status : excerpt(existing.status)}): give another id`,
          );
        return start();
      })
      .then(
        () => {
          if (settled) return;
          started = true;
          if (interrupted) interrupt();
          else schedulePoll();
        },
        (e: unknown) => finish(e as Error),
      );
  });
}
