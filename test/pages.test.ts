/**
 * The API pages: built by `npm run docs` (into a temporary folder), served on 127.0.0.1 and
 * opened in headless Chromium, as a reader would. A page passes when its scripts raise nothing,
 * every request it makes succeeds and it shows what it is for: a command's docs, since,
 * deprecation, build condition and examples. Screenshots are kept for a look (path printed).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './support/qemu-sources.js';

// Debian's package (scripts/setup.sh installs it); playwright's own download is not used.
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(tmpdir(), 'qapi-ts-pages-screenshots');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.md': 'text/markdown',
};

let work: string;
let out: string;
let server: Server;
let base: string;
let browser: BrowserContext;

/** Serves `root`'s files; anything else is a 404, which the page checks report. */
function serve(root: string): Promise<Server> {
  const s = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // Chromium asks every site for /favicon.ico by itself; the pages name no icon.
    if (url.pathname === '/favicon.ico') return void res.writeHead(204).end();
    const file = path.join(root, path.normalize(decodeURIComponent(url.pathname)));
    if (!file.startsWith(root + path.sep)) return void res.writeHead(403).end();
    readFile(file).then(
      (body) =>
        res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

/** Opens a page, screenshots it, and returns it with everything that went wrong while loading. */
async function open(url: string, shot: string, fullPage = true): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (m) => void (m.type() === 'error' && problems.push(`console: ${m.text()}`)));
  page.on('pageerror', (e) => void problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => void problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => void (r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`)));
  const response = await page.goto(base + url, { waitUntil: 'networkidle' });
  expect(response?.status(), url).toBe(200);
  // The sidebar is drawn by script from navigation.js: its links mean the scripts ran.
  await page.locator('#tsd-nav-container a').first().waitFor();
  await page.screenshot({ path: path.join(SHOTS, shot), fullPage });
  return { page, problems };
}

/** The visible text of the page's main column. */
const text = (page: Page): Promise<string> => page.locator('.col-content').innerText();

/** The one page in `dir` for `name` in the newest release's own module (`qapi-ts_qemu-11.1.blockdev-add.html`). */
function newest(dir: string, name: string): string {
  const found = readdirSync(path.join(out, dir)).filter(
    (f) => /^qapi-ts_qemu-[\d.]+\./.test(f) && f.endsWith(`.${name}.html`),
  );
  expect(found).toHaveLength(1);
  return `${dir}/${found[0]}`;
}

beforeAll(async () => {
  // Fails, not skips: the pages are part of the product, and setup.sh installs Chromium.
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup.sh (it installs the chromium package)`);
  work = mkdtempSync(path.join(tmpdir(), 'qapi-ts-pages-'));
  out = path.join(work, 'pages');
  const started = Date.now();
  const build = spawnSync('npm', ['run', '--silent', 'docs', '--', '--out', out], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 240_000,
  });
  // typedoc exits non-zero on an error; its warnings (types the entry points do not export) pass.
  expect(build.status, build.stdout + build.stderr).toBe(0);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  server = await serve(out);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await chromium.launchPersistentContext(path.join(work, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  console.log(`pages test: built in ${seconds} s; screenshots in ${SHOTS}`);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('API pages', () => {
  it('the index shows the README and lists every entry point', async () => {
    // The first screen only: the whole README is some 24,000 px tall.
    const { page, problems } = await open('index.html', 'index.png', false);
    expect(await page.title()).toBe('qapi-ts');
    expect(await text(page)).toContain('Quick start');
    const modules = await page.locator('#tsd-nav-container > li > details > summary > a').allInnerTexts();
    for (const m of ['qapi-ts', 'qapi-ts/runtime', 'qapi-ts/testing', 'qapi-ts/codegen']) expect(modules).toContain(m);
    for (const p of ['qemu', 'qga', 'qsd'])
      expect(
        modules.some((m) => m.startsWith(`qapi-ts/${p}-`)),
        p,
      ).toBe(true);
    expect(problems).toEqual([]);
  });

  it("qapi-ts's connectQmp has its own page", async () => {
    const { page, problems } = await open('variables/qapi-ts.connectQmp.html', 'connectQmp.png');
    expect(await page.locator('h1').innerText()).toContain('connectQmp');
    expect(await text(page)).toMatch(/Connects to a QMP monitor/);
    expect(problems).toEqual([]);
  });

  it('an error class has its own page, with its base class', async () => {
    const { page, problems } = await open('classes/qapi-ts.QmpError.html', 'QmpError.png');
    expect(await page.locator('h1').innerText()).toBe('Class QmpError');
    const body = await text(page);
    expect(body).toContain('QapiError');
    expect(body).toContain('errorClass');
    expect(problems).toEqual([]);
  });

  it("blockdev-add has a page with QEMU's docs, its arguments, since and examples", async () => {
    const { page, problems } = await open('commands/qapi-ts.blockdev-add.html', 'blockdev-add.png');
    expect(await page.locator('h1').innerText()).toBe('Command blockdev-add');
    const body = await text(page);
    expect(body).toContain('Creates a new block device.');
    expect(body).toMatch(/Arguments\s+BlockdevOptions/);
    expect(body).toMatch(/Since\s+2\.9/);
    expect(body).toMatch(/Example:\s+-> \{ "execute": "blockdev-add"/);
    expect(body).toContain('cmd.blockdevAdd(…)');
    // The arguments' type is a link that works.
    await page
      .locator('.col-content a', { hasText: /^BlockdevOptions$/ })
      .first()
      .click();
    await page.waitForURL(/BlockdevOptions\.html$/);
    expect(await page.locator('h1').innerText()).toContain('BlockdevOptions');
    expect(problems).toEqual([]);
  });

  it("the newest release's commands have pages too, with deprecation and build conditions", async () => {
    const add = await open(newest('commands', 'blockdev-add'), 'newest-blockdev-add.png');
    expect(await text(add.page)).toMatch(/Creates a new block device\.[\s\S]*Since\s+2\.9/);
    expect(add.problems).toEqual([]);

    const kvm = await open(newest('commands', 'query-kvm'), 'newest-query-kvm.png');
    expect(await kvm.page.locator('h1.deprecated').innerText()).toBe('Command query-kvm');
    expect(await text(kvm.page)).toMatch(
      /Deprecated\s+This command is deprecated\.\s+Use query-accelerators instead\./,
    );
    expect(kvm.problems).toEqual([]);

    // 11.1's docs come from QEMU's HTML reference, which words the condition its own way.
    const dump = await open(newest('commands', 'screendump'), 'newest-screendump.png');
    const dumpText = await text(dump.page);
    expect(dumpText).toContain('Capture the contents of a screen');
    expect(dumpText).toContain('CONFIG_PIXMAN');
    expect(dump.problems).toEqual([]);
  });

  it("QEMU's doc text stays text: 'child<subtype>' is shown, not taken for a tag", async () => {
    const { page, problems } = await open('interfaces/qapi-ts.ObjectPropertyInfo.html', 'ObjectPropertyInfo.png');
    expect(await text(page)).toContain("A child type in the form 'child<subtype>' where subtype is a");
    expect(problems).toEqual([]);
  });

  it("a command's build condition ('if') is on its page", async () => {
    const { page, problems } = await open('commands/qapi-ts.screendump.html', 'screendump.png');
    expect(await text(page)).toContain('Only available when QEMU is built with CONFIG_PIXMAN.');
    expect(problems).toEqual([]);
  });

  it('an event has a page with its data, and the search finds commands by name', async () => {
    const { page, problems } = await open('events/qapi-ts.SHUTDOWN.html', 'SHUTDOWN.png');
    expect(await page.locator('h1').innerText()).toBe('Event SHUTDOWN');
    expect(await text(page)).toMatch(/Data\s+guest: boolean/);
    await page.locator('#tsd-search-trigger').click();
    await page.locator('#tsd-search-input').fill('blockdev-add');
    await page.locator('#tsd-search-results a[href$="qapi-ts.blockdev-add.html"]').first().waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'search.png') });
    expect(problems).toEqual([]);
  });
});
