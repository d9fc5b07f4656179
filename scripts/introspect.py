#!/usr/bin/env python3
"""QMP introspection of a QEMU binary inside a Debian root, run with that root's own
dynamic loader (no chroot, so no root needed): prints what query-qmp-schema returns.
Usage: introspect.py ROOT OUT.json   (writes OUT.json; the greeting's version on stdout)"""
import json, os, socket, subprocess, sys, tempfile, time

root, out = sys.argv[1], sys.argv[2]
libs = ':'.join(os.path.join(root, d) for d in ('usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu'))
with tempfile.TemporaryDirectory(prefix='qapi-ts-introspect-') as tmp:
    sock = os.path.join(tmp, 'qmp.sock')
    qemu = subprocess.Popen(
        [os.path.join(root, 'lib64/ld-linux-x86-64.so.2'), '--library-path', libs,
         os.path.join(root, 'usr/bin/qemu-system-x86_64'),
         '-machine', 'none', '-nodefaults', '-display', 'none', '-S',
         '-qmp', f'unix:{sock},server=on,wait=off'],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(1000):
            if os.path.exists(sock) or qemu.poll() is not None:
                break
            time.sleep(0.01)
        if not os.path.exists(sock):
            sys.exit(f'introspect: QEMU did not start: {qemu.stderr.read().decode(errors="replace")[-500:]}')
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        f = s.makefile('rb')
        version = json.loads(f.readline())['QMP']['version']['qemu']
        s.sendall(b'{"execute":"qmp_capabilities"}')
        f.readline()
        s.sendall(b'{"execute":"query-qmp-schema","id":1}')
        while True:
            msg = json.loads(f.readline())
            if msg.get('id') == 1:
                break
        with open(out, 'w') as o:
            json.dump(msg['return'], o, separators=(',', ':'))
        print(f"{version['major']}.{version['minor']}.{version['micro']}")
    finally:
        qemu.kill()
        qemu.wait()
