// Print a VM's events as they come, for a while (or until STOP_AFTER of them).
// QMP=/run/vm.qmp STOP_AFTER=2 node examples/watch-events.mjs
import { connectQmp } from 'qapi-ts';

const qmp = await connectQmp({ path: process.env.QMP ?? '/run/vm.qmp' });
const limit = Number(process.env.STOP_AFTER ?? Infinity);
let seen = 0;
for await (const ev of qmp.events()) {
  const when = new Date(ev.timestamp.seconds * 1000 + ev.timestamp.microseconds / 1000).toISOString();
  console.log(`${when} ${ev.event}`, ev.data ? JSON.stringify(ev.data) : '');
  if (++seen >= limit) break;
}
await qmp.close();
