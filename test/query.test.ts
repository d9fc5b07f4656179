/** The schema query grammar (runtime/schema/query.ts), on the generated 7.2 descriptor. */
import { describe, expect, it } from 'vitest';
import { schema } from '../generated/qemu-7.2/index.js';
import { queryPath, supports } from '../runtime/schema/query.js';

describe('schema queries', () => {
  it.each([
    // Arrays are looked through: query-block returns [BlockInfo].
    ['query-block/ret-type/device', true],
    // An alternate answers yes when any alternative does: qcow2's file is a BlockdevRef (options or a node name).
    ['blockdev-add/arg-type/+qcow2/file/+file/filename', true],
    ['blockdev-add/arg-type/+qcow2/file/!string', true],
    ['blockdev-add/arg-type/+qcow2/file/!boolean', false],
    // '*name': only an optional member.
    ['blockdev-add/arg-type/*node-name', true],
    ['blockdev-add/arg-type/*driver', false],
    // A feature of a member, of a command.
    ['block-job-set-speed/$deprecated', false],
    ['query-status/$deprecated', false],
    // Steps a type cannot take.
    ['query-status/ret-type/running/extra', false],
    ['query-status/arg-type/^x', false],
    ['query-status/ret-type/^running', false],
    ['query-status/bogus', false],
    ['BLOCK_JOB_COMPLETED/ret-type', false],
    ['BLOCK_JOB_COMPLETED/arg-type/offset', true],
    ['', false],
    ['no-such-command', false],
  ])('%s → %s', (query, answer) => {
    expect(supports(schema, query)).toBe(answer);
  });

  it('builds paths from the typed form, escaping names that do not start with a letter', () => {
    expect(queryPath({ command: 'blockdev-add', path: ['+file', 'aio'], value: 'io_uring' })).toBe(
      'blockdev-add/arg-type/+file/aio/^io_uring',
    );
    expect(queryPath({ command: 'query-status', on: 'ret-type', path: ['running'] })).toBe(
      'query-status/ret-type/running',
    );
    expect(queryPath({ command: 'drive-backup', feature: 'deprecated' })).toBe('drive-backup/$deprecated');
    expect(queryPath({ event: 'X', path: ['_private'] })).toBe('X/arg-type/ _private');
  });
});
