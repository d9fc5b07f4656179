/**
 * QEMU's own schema test suite (tests/qapi-schema of the fetched 10.2 sources):
 * every positive case must load, every negative one must fail, and on the
 * same line as QEMU's expected .err. Only the line is compared: the message
 * texts are our own.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QapiError, QapiSourceError } from '../codegen/errors.js';
import { loadSchema } from '../codegen/frontend.js';
import { requireSources } from './support/qemu-sources.js';

const SUITE_VERSION = '10.2';
const dir = path.join(requireSources(SUITE_VERSION), 'tests/qapi-schema');

/** The cases QEMU runs: the `schemas` list of the suite's meson.build. */
function suiteCases(): string[] {
  const meson = readFileSync(path.join(dir, 'meson.build'), 'utf8');
  const list = meson.slice(meson.indexOf('schemas = ['), meson.indexOf(']', meson.indexOf('schemas = [')));
  return [...list.matchAll(/'([^']+\.json)'/g)].map((m) => m[1]);
}

/** The error location QEMU expects: the first `file:line[:col]: message` line of the .err (later ones are notes). */
function expectedError(name: string): { file: string; line: number } | undefined {
  const err = readFileSync(path.join(dir, name.replace(/\.json$/, '.err')), 'utf8');

  for (const l of err.split('\n')) {
    const m = /^([^:\s]+):(\d+)(?::\d+)?: /.exec(l);
    if (m) return { file: path.basename(m[1]), line: Number(m[2]) };
  }
  return undefined;
}

const cases = suiteCases();
const tally = { positive: 0, negative: 0, agree: 0, sameLine: 0, lineMismatches: [] as string[] };

describe(`QEMU ${SUITE_VERSION} tests/qapi-schema`, () => {
  it('has the suite', () => {
    expect(cases.length).toBeGreaterThan(200);
  });

  for (const name of cases) {
    it(name, () => {
      const want = expectedError(name);
      let got: QapiSourceError | undefined;
      try {
        loadSchema(path.join(dir, name), { dialect: 'modern' });
      } catch (e) {
        // Anything but a QapiError is a crash, never an acceptable way to reject.
        if (!(e instanceof QapiError)) throw e;
        expect(e).toBeInstanceOf(QapiSourceError);
        got = e as QapiSourceError;
      }
      if (want) tally.negative++;
      else tally.positive++;
      if (!want) {
        expect(got?.format()).toBeUndefined();
        tally.agree++;
        return;
      }
      expect(got, `QEMU rejects at ${want.file}:${want.line}`).toBeDefined();
      tally.agree++;
      const at = { file: path.basename(got!.info!.file), line: got!.info!.line };
      if (at.file === want.file && at.line === want.line) tally.sameLine++;
      else tally.lineMismatches.push(`${name}: ours ${at.file}:${at.line}, QEMU ${want.file}:${want.line}`);
    });
  }

  afterAll(() => {
    const total = tally.positive + tally.negative;
    const pct = (n: number, d: number) => (d ? ((100 * n) / d).toFixed(1) : '0');
    console.log(
      `conformance: ${total} cases (${tally.positive} positive, ${tally.negative} negative); ` +
        `accept/reject agreement ${tally.agree}/${total} (${pct(tally.agree, total)}%); ` +
        `same error line ${tally.sameLine}/${tally.negative} (${pct(tally.sameLine, tally.negative)}%)`,
    );
    for (const m of tally.lineMismatches) console.log(`  line differs: ${m}`);
  });

  it('reports the error on the same line as QEMU for at least 95% of the negative cases', () => {
    // Runs last (vitest keeps declaration order within a file).
    expect(tally.negative).toBeGreaterThan(0);
    expect(tally.sameLine / tally.negative).toBeGreaterThanOrEqual(0.95);
  });
});
