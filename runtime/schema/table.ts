/**
 * What the client needs to know about a schema at run time beyond the
 * descriptor: method names and per-command flags, known events, and where
 * 64-bit integers live. Generated as `generated/<label>/table.ts`. Keys come
 * in schema order; flags are present only when true.
 */

export interface CommandEntry {
  /** The client's method for the command: camelCase of the wire name ('blockdev-add' → 'blockdevAdd'). */
  method: string;
  /** The command may be executed out of band ('allow-oob'). */
  oob?: true;
  /** The command sends no reply when it succeeds ('success-response': false; guest-shutdown and friends). */
  noReply?: true;
  /** The command has the 'deprecated' feature. */
  deprecated?: true;
  /** The command has the 'unstable' feature. */
  unstable?: true;
  /** The arguments are one object type, possibly a union ('boxed'). */
  boxed?: true;
}

export interface EventEntry {
  deprecated?: true;
  unstable?: true;
}

export interface RuntimeTable {
  protocol: 'qmp' | 'qga';
  /** By wire name. */
  commands: { [wireName: string]: CommandEntry };
  /** By wire name; every event of the schema, flags or not. */
  events: { [name: string]: EventEntry };
  /**
   * Where a bigint may occur: for each object type (by its descriptor name,
   * implicit argument types such as 'q_obj_block_resize-arg' included) that
   * has some, its members holding a 64-bit integer (int, int64, uint64,
   * size), directly, as array elements, or as an alternative of an
   * alternate. Members are common ones (bases included); a union's variant
   * types have entries of their own. Walk values with the descriptor to
   * reach nested objects. Values of type 'any' may hold bigints anywhere.
   */
  int64: { [typeName: string]: string[] };
}
