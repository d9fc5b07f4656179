/**
 * How long each guest-agent command may take before the client gives up on
 * it, when neither the call nor the client's `timeouts` option says: short
 * for what only reads the agent's own state, long for what waits on the
 * guest's disks. Proxmox learnt the same (its agent timeout table). A
 * command not listed gets the client's `timeout` (default 10 s).
 */
export const DEFAULT_AGENT_TIMEOUT = 10_000;

export const AGENT_TIMEOUTS: Readonly<Record<string, number>> = {
  'guest-ping': 3_000,
  'guest-info': 3_000,
  'guest-sync': 3_000,
  'guest-sync-delimited': 3_000,
  'guest-get-time': 3_000,
  // Freezing flushes every filesystem of the guest; thawing waits for the freeze to finish.
  'guest-fsfreeze-freeze': 3_600_000,
  'guest-fsfreeze-freeze-list': 3_600_000,
  'guest-fsfreeze-thaw': 600_000,
  'guest-fstrim': 600_000,
  // Walk every disk and filesystem of the guest.
  'guest-get-fsinfo': 60_000,
  'guest-get-disks': 60_000,
  'guest-get-diskstats': 60_000,
  'guest-get-devices': 60_000,
  // Starting a process, and file I/O chunks of up to a few MiB.
  'guest-exec': 30_000,
  'guest-file-open': 30_000,
  'guest-file-read': 60_000,
  'guest-file-write': 60_000,
  'guest-file-flush': 60_000,
  'guest-file-close': 30_000,
};
