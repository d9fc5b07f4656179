// A full backup, then an incremental one, of a VM's disk; then one standalone image from the chain.
// QMP=/run/vm.qmp NODE=disk0 DIR=/backup node examples/incremental-backup.mjs
import { connectQmp, fullBackup, incrementalBackup, restoreChain } from 'qapi-ts';

const dir = process.env.DIR ?? '/backup';
const node = process.env.NODE ?? 'disk0';
const qmp = await connectQmp({ path: process.env.QMP ?? '/run/vm.qmp' });
try {
  await fullBackup(qmp, { node, target: `${dir}/full.qcow2`, bitmap: 'example' });
  // ... time passes, the guest writes ...
  const inc = await incrementalBackup(qmp, {
    node,
    bitmap: 'example',
    target: `${dir}/inc1.qcow2`,
    backingFile: `${dir}/full.qcow2`,
    onProgress: (p) => process.stdout.write(`\r${p.current}/${p.total} bytes`),
  });
  console.log(`\nincremental: ${inc.job.current} bytes copied`);
  await restoreChain([`${dir}/full.qcow2`, `${dir}/inc1.qcow2`], `${dir}/restored.qcow2`);
  console.log('restored and verified');
} finally {
  await qmp.close();
}
