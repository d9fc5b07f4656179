// The README's SDK example, run against a throwaway QEMU (-M pc -S -nodefaults) in a temp dir,
// then its guest-agent example against a real qemu-ga run as the tests run it (as nobody, host-changing RPCs blocked).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync('/tmp/qapi-demo-');
const sock = path.join(dir, 'qmp.sock');
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, 'd1.qcow2'), '16M']);
execFileSync('qemu-img', ['create', '-q', '-f', 'raw', path.join(dir, 'backup.raw'), '16M']);
const qemu = spawn(
  'qemu-system-x86_64',
  ['-M', 'pc', '-S', '-nodefaults', '-display', 'none', '-qmp', `unix:${sock},server=on,wait=off`],
  { stdio: 'inherit' },
);
try {
  for (let i = 0; i < 500 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10));
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const at = readme.indexOf('```ts\n', readme.indexOf('## The SDK')) + 6;
  const code = readme
    .slice(at, readme.indexOf('```\n', at))
    .replaceAll("'/tmp/", `'${dir}/`)
    .replaceAll('/run/vm.qmp', sock);
  mkdirSync(path.join(root, '.cache/examples'), { recursive: true });
  const file = path.join(root, '.cache/examples/readme-example.mjs');
  writeFileSync(file, code);
  console.log(`--- the README example against QEMU (${sock})`);
  execFileSync(process.execPath, [file], { stdio: 'inherit' });
} finally {
  qemu.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}

const { startAgent } = await import(path.join(root, 'dist/test/support/agent.js'));
const agent = await startAgent();
try {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const at = readme.indexOf('```ts\n', readme.indexOf('## The guest agent')) + 6;
  const code = readme
    .slice(at, readme.indexOf('```\n', at))
    .replaceAll('/run/vm.qga', agent.path)
    .replaceAll('/tmp/hello.bin', path.join(agent.dir, 'hello.bin'));
  const file = path.join(root, '.cache/examples/readme-agent.mjs');
  writeFileSync(file, code);
  console.log(`--- the README guest-agent example against qemu-ga (${agent.path})`);
  execFileSync(process.execPath, [file], { stdio: 'inherit' });
} finally {
  await agent.kill();
}
