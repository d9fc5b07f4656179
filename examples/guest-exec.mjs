// Run a program in the guest through qemu-ga, and read a file back.
// QGA=/run/vm.qga node examples/guest-exec.mjs
import { connectQga } from 'qapi-ts';

const qga = await connectQga({ path: process.env.QGA ?? '/run/vm.qga' });
try {
  const info = await qga.execute('guest-info');
  console.log('agent', info.version);
  const r = await qga.exec('/bin/sh', ['-c', 'echo hello from $(uname -s)']);
  console.log('exit', r.exitCode, 'stdout', r.stdout.toString().trim());
} finally {
  await qga.close();
}
