// A libvirt-managed VM through virsh: its status, typed, and its guest agent (if it runs one).
// DOMAIN=vm1 URI=qemu:///system node examples/libvirt-status.mjs
import { connectQmp, connectQga, LibvirtError } from 'qapi-ts';

const target = { libvirt: { domain: process.env.DOMAIN ?? 'vm1', uri: process.env.URI } };
const qmp = await connectQmp(target);
try {
  console.log('status', (await qmp.execute('query-status')).status);
} finally {
  await qmp.close();
}
const qga = await connectQga({ libvirt: { ...target.libvirt, agentTimeout: 2 } });
try {
  await qga.execute('guest-ping');
  console.log('agent: answering');
} catch (e) {
  if (!(e instanceof LibvirtError)) throw e;
  console.log(`agent: ${e.code}`);
} finally {
  await qga.close();
}
