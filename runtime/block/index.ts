/**
 * Block jobs, backups and images, as the package exports them: each function
 * loads its module on first use. Most programs never call them, and every
 * import of the runtime would otherwise pay for their code (import time is a
 * measured figure: bench qmp-import-to-first-reply). The error classes load at
 * once, for `instanceof`.
 */
type Jobs = typeof import('./jobs.js');
type Backup = typeof import('./backup.js');
type Images = typeof import('./images.js');

const jobs = (): Promise<Jobs> => import('./jobs.js');
const backup = (): Promise<Backup> => import('./backup.js');
const images = (): Promise<Images> => import('./images.js');

export const runJob = (...a: Parameters<Jobs['runJob']>): ReturnType<Jobs['runJob']> =>
  jobs().then((m) => m.runJob(...a));
export const fullBackup = (...a: Parameters<Backup['fullBackup']>): ReturnType<Backup['fullBackup']> =>
  backup().then((m) => m.fullBackup(...a));
export const incrementalBackup = (
  ...a: Parameters<Backup['incrementalBackup']>
): ReturnType<Backup['incrementalBackup']> => backup().then((m) => m.incrementalBackup(...a));
export const listBitmaps = (...a: Parameters<Backup['listBitmaps']>): ReturnType<Backup['listBitmaps']> =>
  backup().then((m) => m.listBitmaps(...a));
export const addBitmap = (...a: Parameters<Backup['addBitmap']>): ReturnType<Backup['addBitmap']> =>
  backup().then((m) => m.addBitmap(...a));
export const clearBitmap = (...a: Parameters<Backup['clearBitmap']>): ReturnType<Backup['clearBitmap']> =>
  backup().then((m) => m.clearBitmap(...a));
export const removeBitmap = (...a: Parameters<Backup['removeBitmap']>): ReturnType<Backup['removeBitmap']> =>
  backup().then((m) => m.removeBitmap(...a));
export const mergeBitmaps = (...a: Parameters<Backup['mergeBitmaps']>): ReturnType<Backup['mergeBitmaps']> =>
  backup().then((m) => m.mergeBitmaps(...a));
export const qemuIo = (...a: Parameters<Backup['qemuIo']>): ReturnType<Backup['qemuIo']> =>
  backup().then((m) => m.qemuIo(...a));
export const fleece = (...a: Parameters<Backup['fleece']>): ReturnType<Backup['fleece']> =>
  backup().then((m) => m.fleece(...a));
export const restoreChain = (...a: Parameters<Images['restoreChain']>): ReturnType<Images['restoreChain']> =>
  images().then((m) => m.restoreChain(...a));
export const imagesEqual = (...a: Parameters<Images['imagesEqual']>): ReturnType<Images['imagesEqual']> =>
  images().then((m) => m.imagesEqual(...a));
export const backingFileOf = (...a: Parameters<Images['backingFileOf']>): ReturnType<Images['backingFileOf']> =>
  images().then((m) => m.backingFileOf(...a));

export * from './errors.js';
export type { JobControl, JobHost, JobProgress, JobResult, JobStatus, RunJobOptions } from './jobs.js';
export type {
  BackupHost,
  BackupResult,
  BitmapInfo,
  Fleece,
  FleeceOptions,
  FullBackupOptions,
  IncrementalBackupOptions,
} from './backup.js';
export type { CompareOptions, ImageToolOptions } from './images.js';
