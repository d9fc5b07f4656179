// Ask the QEMU you run what it has, from its own schema, before using it.
// QMP=/run/vm.qmp node examples/feature-probe.mjs
import { connectQmp } from 'qapi-ts';

const qmp = await connectQmp({ path: process.env.QMP ?? '/run/vm.qmp' });
try {
  const v = qmp.greeting.version.qemu;
  console.log(`QEMU ${v.major}.${v.minor}.${v.micro}, checked against release ${qmp.release}`);
  for (const query of ['query-accelerators', 'blockdev-backup', 'blockdev-add/arg-type/driver/^vvfat']) {
    console.log(query, (await qmp.supports(query)) ? 'yes' : 'no');
  }
} finally {
  await qmp.close();
}
