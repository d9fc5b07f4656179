/**
 * What QEMU's JSON parser (qobject/json-streamer.c, json-parser.c) refuses,
 * checked on a request's text before it is sent. QEMU answers such a request
 * with errors that carry no id (one per token for some: a flood), and worse:
 * with oob negotiated, such a flood can abort QEMU 7.2 (its request queue
 * overflows), and it reads requests at about 175 KB/s, so a huge one holds
 * the monitor for minutes. Refusing them here costs one linear scan of the
 * text. Measured on QEMU 7.2: nesting 1024 and 2,097,152 tokens (the last
 * one included) parse, one more does not; strings with unpaired surrogates
 * or noncharacters (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF) are refused; NUL
 * (\u0000) is accepted.
 */

/** QEMU's limits per JSON message. */
export const QEMU_JSON_LIMITS = {
  /** Open arrays and objects at once (MAX_NESTING). */
  maxDepth: 1024,
  /** Tokens: punctuation, strings, numbers, literals (MAX_TOKEN_COUNT). */
  maxTokens: 2 * 1024 * 1024,
  /** Bytes of tokens (MAX_TOKEN_SIZE). */
  maxBytes: 64 * 1024 * 1024,
} as const;

function unsupported(what: string): RequestProblem {
  return { code: 'unsupported-string', message: `a string holds ${what}, which QEMU's parser refuses` };
}

export type RequestProblem =
  | { code: 'too-large'; message: string }
  | { code: 'too-deep'; message: string }
  | { code: 'too-many-tokens'; message: string }
  | { code: 'unsupported-string'; message: string };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The first limit `text` (compact JSON, as stringifyJson writes it) breaks,
 * or undefined. `maxBytes` may lower the size limit below QEMU's.
 */
export function checkRequestText(
  text: string,
  maxBytes: number = QEMU_JSON_LIMITS.maxBytes,
): RequestProblem | undefined {
  const limit = Math.min(maxBytes, QEMU_JSON_LIMITS.maxBytes);
  // A UTF-16 unit is at most 3 bytes of UTF-8: only long texts need counting.
  if (text.length * 3 > limit) {
    const bytes = Buffer.byteLength(text);
    if (bytes > limit) {
      return {
        code: 'too-large',
        message:
          `the request is ${bytes} bytes, over the ${limit}-byte limit` +
          (limit < QEMU_JSON_LIMITS.maxBytes ? ' (maxRequestBytes)' : " (QEMU's parser)"),
      };
    }
  }
  let depth = 0;
  let tokens = 0;
  let afterValueStart = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      tokens++;
      afterValueStart = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === QUOTE) break;
        if (d === BACKSLASH) {
          if (text.charCodeAt(i + 1) !== 0x75 /* u */) {
            i++;
            continue;
          }
          // JSON.stringify writes unpaired surrogates as \uXXXX escapes; everything else raw.
          const unit = parseInt(text.slice(i + 2, i + 6), 16);
          if (unit >= 0xd800 && unit <= 0xdfff) return unsupported('an unpaired UTF-16 surrogate');
          i += 5;
          continue;
        }
        if (d >= 0xfdd0 && (d <= 0xfdef || d >= 0xfffe)) return unsupported('a Unicode noncharacter');
        if (d >= 0xd800 && d <= 0xdbff) {
          // A pair: U+xFFFE and U+xFFFF of every plane are noncharacters too.
          const low = text.charCodeAt(i + 1);
          if (low >= 0xdc00 && low <= 0xdfff && (low & 0x3fe) === 0x3fe && (d & 0x3f) === 0x3f)
            return unsupported('a Unicode noncharacter');
          i++;
        }
      }
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      tokens++;
      if (++depth > QEMU_JSON_LIMITS.maxDepth) {
        return {
          code: 'too-deep',
          message: `the request nests arrays and objects deeper than QEMU's limit of ${QEMU_JSON_LIMITS.maxDepth}`,
        };
      }
      afterValueStart = false;
    } else if (c === 0x7d || c === 0x5d) {
      tokens++;
      depth--;
      afterValueStart = false;
    } else if (c === 0x2c || c === 0x3a) {
      tokens++;
      afterValueStart = false;
    } else if (!afterValueStart && c > 0x20) {
      // The first character of a number or literal.
      tokens++;
      afterValueStart = true;
    }
  }
  if (tokens > QEMU_JSON_LIMITS.maxTokens) {
    return {
      code: 'too-many-tokens',
      message: `the request has ${tokens} JSON tokens, over QEMU's limit of ${QEMU_JSON_LIMITS.maxTokens}`,
    };
  }
  return undefined;
}

/** The deepest nesting of [ and { outside strings (any JSON text, spaces allowed). */
export function depthOf(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}
