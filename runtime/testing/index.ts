/**
 * The `qapi-ts/testing` entry point: a schema-aware fake QEMU for the tests
 * of code that uses the SDK (see fake-qemu.ts).
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
  type UntypedCommands,
  type UntypedEvents,
} from './fake-qemu.js';
