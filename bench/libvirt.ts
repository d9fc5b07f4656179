/**
 * The libvirt transport's cost per call: the typed client through libvirt
 * (one long-lived virsh) against the same client on the domain's second QMP
 * monitor (a socket), and against what a tool-based path without a
 * long-lived process pays (a virsh per call).
 */
import { execFileSync } from 'node:child_process';
import { connectQmp } from '../generated/qemu-7.2/index.js';
import { startLibvirt } from '../test/support/libvirt.js';
import { allowanceGoal, median, report } from './report.js';

const CALLS = 200;

async function perCall(run: () => Promise<unknown>, calls = CALLS): Promise<number> {
  for (let i = 0; i < 10; i++) await run();
  const times: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) await run();
    times.push((performance.now() - t0) / calls);
  }
  return median(times);
}

export async function benchLibvirt(): Promise<void> {
  const lv = await startLibvirt('qt-bench');
  try {
    const viaLibvirt = await connectQmp({ libvirt: { domain: lv.domain, uri: lv.uri } });
    const viaSocket = await connectQmp({ path: lv.extraQmp });
    try {
      const ours = await perCall(() => viaLibvirt.execute('query-name'));
      const socket = await perCall(() => viaSocket.execute('query-name'));
      // The goal: through libvirt at most 5 ms a call over the socket client.
      report({
        name: 'libvirt-call-vs-socket',
        ours,
        baseline: socket,
        unit: 'ms',
        better: 'lower',
        goal: allowanceGoal(socket, 5),
      });
      const perProcess = await perCall(
        async () =>
          execFileSync('virsh', ['-q', '-c', lv.uri, 'qemu-monitor-command', lv.domain, '{"execute":"query-name"}']),
        20,
      );
      report({
        name: 'libvirt-long-lived-virsh-vs-one-per-call',
        ours,
        baseline: perProcess,
        unit: 'ms',
        better: 'lower',
        goal: 0.5,
      });
    } finally {
      await viaLibvirt.close();
      await viaSocket.close();
    }
  } finally {
    await lv.stop();
  }
}
