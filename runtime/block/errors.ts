/**
 * The errors of block jobs, backups and images, apart from the code that
 * throws them (runtime/block/index.ts loads that code on first use, while
 * `instanceof` needs these classes at once).
 */
import { QapiError } from '../errors.js';
import type { JobStatus } from './jobs.js';

export type JobErrorCode = 'job-failed' | 'job-cancelled';

/** A job that ended without success: QEMU's error for it, or a cancel nobody asked the runner for. */
export class JobError extends QapiError {
  override name = 'JobError';
  constructor(
    readonly code: JobErrorCode,
    readonly id: string,
    readonly jobType: string | undefined,
    /** QEMU's error text (query-jobs' `error`), when it gave one. */
    readonly error: string | undefined,
    readonly statuses: readonly JobStatus[],
  ) {
    super(
      code === 'job-cancelled'
        ? `job '${id}'${jobType ? ` (${jobType})` : ''} was cancelled${error ? `: ${error}` : ''}`
        : `job '${id}'${jobType ? ` (${jobType})` : ''} failed: ${error ?? 'QEMU gave no reason (auto-dismiss on: its error is gone with it)'}`,
    );
  }
}

/** runJob was asked for something it cannot do (nothing was started). */
export class JobUsageError extends QapiError {
  override name = 'JobUsageError';
  readonly code = 'job-exists' as const;
}

export type BackupErrorCode = 'target-exists' | 'bad-bitmap' | 'no-node' | 'bad-chain';

/** A backup that cannot be made as asked (nothing was changed). */
export class BackupError extends QapiError {
  override name = 'BackupError';
  constructor(
    readonly code: BackupErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type ImageErrorCode = 'bad-chain' | 'differs' | 'output-exists' | 'qemu-img-failed';

/** Thrown when qemu-img fails, or says an image or a chain is not as it should be. */
export class ImageError extends QapiError {
  override name = 'ImageError';
  constructor(
    readonly code: ImageErrorCode,
    message: string,
  ) {
    super(message);
  }
}
