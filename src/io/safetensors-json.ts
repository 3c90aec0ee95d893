/**
 * A strict JSON parser (RFC 8259) for untrusted safetensors headers and shard indexes.
 *
 * Why not JSON.parse: it silently keeps the last of two duplicate keys (a file could then mean two
 * different things to two readers), has no depth limit, and turns 2^64 into a rounded float.
 * This parser rejects duplicate keys, nesting deeper than `maxDepth`, and integers that are not
 * exactly representable (|n| > 2^53 - 1); with `integersOnly` it also rejects fractions and
 * exponents (a safetensors header holds only integers: shapes and offsets).
 * Objects are returned with a null prototype so a key like "__proto__" is just a key.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export type JsonObject = { [key: string]: JsonValue };

/** A syntax or limit error; `offset` is the character index in the text. */
export class JsonParseError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} at character ${offset}`);
    this.name = "JsonParseError";
    this.offset = offset;
  }
}

export interface StrictJsonOptions {
  maxDepth?: number;
  integersOnly?: boolean;
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** Short printable description of the character at i (for messages). */
function describeAt(text: string, i: number): string {
  if (i >= text.length) return "end of text";
  return JSON.stringify(text[i]);
}

export function parseJsonStrict(text: string, options: StrictJsonOptions = {}): JsonValue {
  const maxDepth = options.maxDepth ?? 64;
  const integersOnly = options.integersOnly ?? false;
  let i = 0;
  const n = text.length;

  const skipWs = (): void => {
    while (i < n && WS.has(text.charCodeAt(i))) i++;
  };

  const fail = (what: string): never => {
    throw new JsonParseError(`${what} (found ${describeAt(text, i)})`, i);
  };

  const parseString = (): string => {
    // at the opening quote
    const start = i;
    i++;
    let escaped = false;
    for (;;) {
      if (i >= n) {
        i = start;
        fail("unterminated string");
      }
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail("raw control character inside a string");
      if (c === 0x5c) {
        escaped = true;
        i += 2;
        continue;
      }
      i++;
    }
    i++; // closing quote
    const raw = text.slice(start, i);
    if (!escaped) return raw.slice(1, -1);
    try {
      return JSON.parse(raw) as string; // validates and decodes the escapes exactly per JSON
    } catch {
      i = start;
      return fail("invalid escape sequence in string");
    }
  };

  const parseNumber = (): number => {
    const start = i;
    if (text[i] === "-") i++;
    if (text[i] === "0") i++;
    else if (text[i] >= "1" && text[i] <= "9") while (text[i] >= "0" && text[i] <= "9") i++;
    else fail("invalid number");
    let integral = true;
    if (text[i] === ".") {
      integral = false;
      i++;
      if (!(text[i] >= "0" && text[i] <= "9")) fail("invalid number: digit expected after '.'");
      while (text[i] >= "0" && text[i] <= "9") i++;
    }
    if (text[i] === "e" || text[i] === "E") {
      integral = false;
      i++;
      if (text[i] === "+" || text[i] === "-") i++;
      if (!(text[i] >= "0" && text[i] <= "9")) fail("invalid number: digit expected in exponent");
      while (text[i] >= "0" && text[i] <= "9") i++;
    }
    const lexeme = text.slice(start, i);
    if (integersOnly && !integral) {
      i = start;
      fail(`non-integer number ${lexeme.slice(0, 40)}; only integers are allowed here`);
    }
    const value = Number(lexeme);
    if (integral && !Number.isSafeInteger(value)) {
      i = start;
      fail(`integer ${lexeme.slice(0, 40)} is too large (limit 2^53 - 1)`);
    }
    return value;
  };

  const parseValue = (depth: number): JsonValue => {
    skipWs();
    if (i >= n) return fail("unexpected end of text");
    const c = text[i];
    if (c === "{") {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
      i++;
      const obj: JsonObject = Object.create(null);
      skipWs();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      for (;;) {
        skipWs();
        if (text[i] !== '"') fail("object key (a string) expected");
        const keyAt = i;
        const key = parseString();
        if (Object.hasOwn(obj, key)) {
          i = keyAt;
          fail(`duplicate key ${JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}...` : key)}`);
        }
        skipWs();
        if (text[i] !== ":") fail("':' expected after object key");
        i++;
        obj[key] = parseValue(depth + 1);
        skipWs();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return obj;
        }
        fail("',' or '}' expected in object");
      }
    }
    if (c === "[") {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
      i++;
      const arr: JsonValue[] = [];
      skipWs();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(depth + 1));
        skipWs();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return arr;
        }
        fail("',' or ']' expected in array");
      }
    }
    if (c === '"') return parseString();
    if (c === "-" || (c >= "0" && c <= "9")) return parseNumber();
    if (text.startsWith("true", i)) {
      i += 4;
      return true;
    }
    if (text.startsWith("false", i)) {
      i += 5;
      return false;
    }
    if (text.startsWith("null", i)) {
      i += 4;
      return null;
    }
    return fail("JSON value expected");
  };

  const value = parseValue(0);
  skipWs();
  if (i < n) fail("unexpected text after the JSON value");
  return value;
}

/** "object", "array", "string", "number", "boolean" or "null": for messages. */
export function jsonTypeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** The type name with its article ("an object", "a string"): for messages. */
export function aJsonType(v: unknown): string {
  const t = jsonTypeName(v);
  return `${/^[aeiou]/.test(t) ? "an" : "a"} ${t}`;
}
