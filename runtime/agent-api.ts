/**
 * What every guest-agent release entry (`qapi-ts/qga-<V>`) re-exports
 * besides its own SDK: the client API of every entry, and the guest-agent
 * client with its options and helpers' types. Kept out of the QMP entries,
 * which then do not load the agent's code.
 */
export * from './client-api.js';
export type { AgentProblem } from './core/connection.js';
export {
  connectAgent,
  QgaClient,
  type AgentOptions,
  type ConnectQga,
  type AgentStats,
  type ExecOptions,
  type ExecResult,
  type FileOptions,
  type PowerEventSource,
  type PowerOptions,
  type ReadyOptions,
} from './qga/client.js';
