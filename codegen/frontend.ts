/**
 * The whole front end in one call: parse, check the expressions, build and
 * check the model. The first problem found is thrown as a QapiError, as
 * QEMU's generator stops at its first error too.
 */
import type { ParseOptions } from './expressions.js';
import { AlternateType, Command, EnumType, Event, ObjectType } from './entities.js';
import { checkExprs } from './expr.js';
import { parseSchema } from './parser.js';
import { Schema } from './schema.js';

export function loadSchema(file: string, options?: ParseOptions): Schema {
  const parsed = parseSchema(file, options);
  const exprs = checkExprs(parsed.exprs);
  return new Schema({ file, exprs, docs: parsed.docs, files: parsed.files, dialect: parsed.dialect });
}

export interface DefinitionCounts {
  commands: number;
  events: number;
  structs: number;
  unions: number;
  alternates: number;
  enums: number;
}

/** Definitions written in the schema, by kind; implicit and built-in ones are not counted. */
export function countDefinitions(schema: Schema): DefinitionCounts {
  const counts: DefinitionCounts = { commands: 0, events: 0, structs: 0, unions: 0, alternates: 0, enums: 0 };
  for (const e of schema.entities) {
    if (e instanceof Command) counts.commands++;
    else if (e instanceof Event) counts.events++;
    else if (e instanceof AlternateType) counts.alternates++;
    else if (e instanceof EnumType && !e.isImplicit) counts.enums++;
    else if (e instanceof ObjectType && !e.isImplicit) {
      if (e.isUnion) counts.unions++;
      else counts.structs++;
    }
  }
  return counts;
}
