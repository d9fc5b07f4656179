/**
 * The `qapi-ts/testing` entry point: a schema-aware fake QEMU and a fake
 * guest agent for the tests of code that uses the SDK (see fake-qemu.ts
 * and fake-agent.ts).
 */
export {
  createFakeQemu,
  FakeError,
  FakeQemu,
  ReplayMismatchError,
  type FakeCall,
  type FakeCommandMap,
  type FakeContext,
  type FakeHandler,
  type FakeLogEntry,
  type FakeQemuOptions,
  type FakeRelease,
  type FakeReplay,
  type FakeVersion,
  type UntypedCommands,
  type UntypedEvents,
} from './fake-qemu.js';
export {
  createFakeAgent,
  FakeAgent,
  type FakeAgentCall,
  type FakeAgentContext,
  type FakeAgentHandler,
  type FakeAgentOptions,
  type FakeExecCapture,
  type FakeExecProcess,
  type FakeExecResult,
  type FakeExecScript,
} from './fake-agent.js';
