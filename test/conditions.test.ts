/**
 * Build conditions ('if') in the generated SDK: what a release can have is
 * not what every build of it has. Conditional members are optional in the
 * types, the descriptor records every condition, and validation accepts a
 * conditional member missing (a reply from a build without it).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { schema as qemu72 } from '../generated/qemu-7.2/index.js';
import { schema as qemu100 } from '../generated/qemu-10.0/index.js';
import type { SchemaInfo, SchemaInfoEnum, SchemaInfoObject } from '../runtime/schema/descriptor.js';
import { validate } from '../runtime/schema/validate.js';
import { ROOT, SDKS } from './support/qemu-sources.js';

/** Properties of the generated interfaces whose doc says they exist only in some builds, and whether each is optional. */
function conditionalProperties(sdk: string): { name: string; optional: boolean }[] {
  const file = path.join(ROOT, 'generated', sdk, 'types.ts');
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: { name: string; optional: boolean }[] = [];
  const visit = (node: ts.Node, owner: string): void => {
    if (ts.isPropertySignature(node)) {
      const doc = ts
        .getJSDocCommentsAndTags(node)
        .map((d) => d.getText())
        .join('\n');
      if (/is built with/.test(doc))
        out.push({
          name: `${owner}.${ts.isStringLiteral(node.name) ? node.name.text : node.name.getText()}`,
          optional: !!node.questionToken,
        });
    }
    const name = ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node) ? node.name.text : owner;
    ts.forEachChild(node, (child) => visit(child, name));
  };
  visit(source, '');
  return out;
}

describe('conditional members in the types', () => {
  it.each(SDKS)('%s: no member is both conditional and required', (sdk) => {
    const props = conditionalProperties(sdk);
    expect(props.filter((p) => !p.optional)).toEqual([]);
  });

  it('QEMU 10.0: CpuModelExpansionInfo.deprecated-props (s390x only) is optional and says why', () => {
    const props = conditionalProperties('qemu-10.0');
    expect(props).toContainEqual({ name: 'CpuModelExpansionInfo.deprecated-props', optional: true });
    const text = readFileSync(path.join(ROOT, 'generated/qemu-10.0/types.ts'), 'utf8');
    expect(text).toMatch(
      /Only available when QEMU is built with TARGET_S390X\.\s+\*\s+\*\s+Optional here because of its build condition/,
    );
  });
});

describe('conditions in the descriptor', () => {
  const byName = (d: readonly SchemaInfo[], name: string): SchemaInfo => d.find((e) => e.name === name)!;

  it("records a command's, a member's, an enum value's and a branch's condition, as the schema writes it", () => {
    expect(byName(qemu72, 'dump-skeys').if).toBe('TARGET_S390X');
    const drivers = byName(qemu72, 'BlockdevDriver') as SchemaInfoEnum;
    expect(drivers.members.find((m) => m.name === 'io_uring')!.if).toBe('CONFIG_BLKIO');
    const cpu = byName(qemu100, 'CpuModelExpansionInfo') as SchemaInfoObject;
    expect(cpu.members.find((m) => m.name === 'deprecated-props')).toEqual({
      name: 'deprecated-props',
      type: '[str]',
      if: 'TARGET_S390X',
    });
    const options = byName(qemu72, 'BlockdevOptions') as SchemaInfoObject;
    expect(options.variants!.find((v) => v.case === 'io_uring')!.if).toBe('CONFIG_BLKIO');
    // Compound conditions keep their structure.
    expect(qemu72.some((e) => typeof e.if === 'object' && e.if !== null && ('all' in e.if || 'any' in e.if))).toBe(
      true,
    );
    // Nothing unconditional carries the field.
    expect(byName(qemu72, 'query-status')).not.toHaveProperty('if');
  });

  it('validation accepts a reply from an x86 10.0 without the s390x-only member, and still wants the others', () => {
    const target = { command: 'query-cpu-model-expansion', direction: 'return' } as const;
    expect(validate(qemu100, target, { model: { name: 'max' } })).toEqual([]);
    expect(validate(qemu100, target, {})).toEqual([
      expect.objectContaining({ path: '$.model', message: "missing required member 'model'" }),
    ]);
  });
});
