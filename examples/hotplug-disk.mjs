// Hot-plug a disk into a running VM: a qcow2 node, then a virtio-blk device on it.
// QMP=/run/vm.qmp DISK=/var/lib/vm/extra.qcow2 node examples/hotplug-disk.mjs
import { connectQmp, QmpError } from 'qapi-ts';

const qmp = await connectQmp({ path: process.env.QMP ?? '/run/vm.qmp' });
try {
  await qmp.execute('blockdev-add', {
    driver: 'qcow2',
    'node-name': 'extra0',
    file: { driver: 'file', filename: process.env.DISK ?? '/var/lib/vm/extra.qcow2' },
  });
  await qmp.cmd.deviceAdd({ driver: 'virtio-blk-pci', drive: 'extra0', id: 'vd-extra0' });
  const disks = await qmp.execute('query-block');
  console.log(
    'attached:',
    disks
      .map((d) => d.qdev ?? d.device)
      .filter(Boolean)
      .join(', '),
  );
} catch (e) {
  if (e instanceof QmpError) console.error(`QEMU said no: ${e.errorClass}: ${e.desc}`);
  throw e;
} finally {
  await qmp.close();
}
