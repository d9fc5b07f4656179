/**
 * Walking the checked model: modules in the order they were first included,
 * each module's entities in definition order. Emitters implement the visit
 * methods they care about.
 */
import type {
  AlternateType,
  ArrayType,
  BuiltinType,
  Command,
  Entity,
  EnumType,
  Event,
  Include,
  ObjectType,
} from './entities.js';
import type { Schema } from './schema.js';

export interface SchemaVisitor {
  visitBegin?(schema: Schema): void;
  visitEnd?(): void;
  visitModule?(module: Module): void;
  /** Return false to skip an entity; everything is visited by default. */
  visitNeeded?(entity: Entity): boolean;
  visitInclude?(include: Include): void;
  visitBuiltinType?(type: BuiltinType): void;
  visitEnumType?(type: EnumType): void;
  visitArrayType?(type: ArrayType): void;
  /** Structs, unions and the implicit object types (command/event arguments, inline union bases). */
  visitObjectType?(type: ObjectType): void;
  visitAlternateType?(type: AlternateType): void;
  visitCommand?(command: Command): void;
  visitEvent?(event: Event): void;
}

/**
 * The entities of one schema file. Entities belong to the file that defines
 * them; implicit object types to the file of the definition that triggered
 * them; array types to their element type's module; built-ins to './builtin'.
 */
export class Module {
  static readonly BUILTIN = './builtin';
  private readonly list: Entity[] = [];

  constructor(
    /** Path relative to the main file's directory, or './builtin'. */
    readonly name: string,
    /** The file as the parser opened it; undefined for system modules. */
    readonly file: string | undefined,
  ) {}

  get entities(): readonly Entity[] {
    return this.list;
  }

  /** System modules hold what the generator defines itself; their names start with './'. */
  get isSystem(): boolean {
    return this.name.startsWith('./');
  }

  get isBuiltin(): boolean {
    return this.name === Module.BUILTIN;
  }

  /** @internal */
  add(entity: Entity): void {
    this.list.push(entity);
  }

  visit(visitor: SchemaVisitor): void {
    visitor.visitModule?.(this);
    for (const entity of this.list) {
      if (visitor.visitNeeded?.(entity) ?? true) entity.visit(visitor);
    }
  }
}
