/**
 * The schema front end and the generator as a library:
 * `import { loadSchema, generate, renderSdk } from 'qapi-ts/codegen'`.
 */
export type { DocDialect, ParseOptions, ParseResult, QapiDict, QapiExpression, QapiValue } from './expressions.js';
export { DocArgSection, DocSection, QapiDoc } from './doc.js';
export { QapiError, QapiParseError, QapiSemanticError, QapiSourceError } from './errors.js';
export { countDefinitions, loadSchema, type DefinitionCounts } from './frontend.js';
export {
  generate,
  guessProtocol,
  renderSdk,
  type GenerateOptions,
  type GenerateResult,
  type Protocol,
  type RenderOptions,
} from './generate.js';
export type { OutputFile } from './emit/output.js';
export { schemaToJson } from './model-json.js';
export { parseSchema } from './parser.js';
export { Schema } from './schema.js';
export * from './entities.js';
export * from './members.js';
export type { IfCond } from './ifcond.js';
export type { SchemaVisitor } from './modules.js';
export { SourceInfo, type Pragma } from './source.js';
export {
  diffSchemas,
  isCollapsed,
  type Change,
  type DefinitionChanges,
  type Definitions,
  type DiffSide,
  type SchemaDiff,
} from './releases/diff.js';
export { formatDiff, type DiffFormat } from './releases/report.js';
