/**
 * Byte-level pieces shared by the BPE trainer and encoder (GPT-2 / Hugging Face `ByteLevel`).
 *
 * 1. Special tokens (e.g. `<bos>`) are cut out of the raw text first, exactly like Hugging Face's
 *    added-token splitting: a literal "<eos>" in a document becomes the EOS id.
 * 2. Each remaining section is split into pre-tokens by the GPT-2 regex (the one the HF `ByteLevel`
 *    pre-tokenizer uses with use_regex = true, add_prefix_space = false):
 *        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *    The alternatives cover every character, so concatenating the pre-tokens gives the section back.
 * 3. Each pre-token is UTF-8 encoded; byte b becomes base symbol b. In tokenizer.json a byte is
 *    written as one printable character by GPT-2's byte-to-unicode table: the 188 printable bytes
 *    ("!".."~", "¡".."¬", "®".."ÿ") map to themselves, the other 68 to U+0100, U+0101, ... in byte
 *    order (so " " -> "Ġ", "\n" -> "Ċ").
 * Every byte is a base symbol, so there are no unknown tokens and decoding is exact.
 */

/** The GPT-2 pre-tokenizer regex (same source as the HF ByteLevel pre-tokenizer, JS `u` mode). */
export const GPT2_SPLIT_REGEX = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** byteToChar[b]: the printable character GPT-2 uses for byte b. */
export const byteToChar: readonly string[] = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const isPrintable = new Set(printable);
  const table = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) table[b] = String.fromCharCode(isPrintable.has(b) ? b : next++);
  return table;
})();

/** charToByte: inverse of byteToChar (character -> byte), for decoding token strings. */
export const charToByte: ReadonlyMap<string, number> = new Map(byteToChar.map((c, b) => [c, b]));

/** The token string (GPT-2 byte characters) of a byte sequence. */
export function bytesToTokenString(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += byteToChar[b];
  return s;
}

/** The bytes of a token string written in GPT-2 byte characters; null if a character is not one. */
export function tokenStringToBytes(token: string): Uint8Array | null {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = charToByte.get(token[i]);
    if (b === undefined) return null;
    out[i] = b;
  }
  return out;
}

/** Splits text into pre-tokens with the GPT-2 regex; their concatenation is the text. */
export function preTokenize(text: string): string[] {
  return text.match(GPT2_SPLIT_REGEX) ?? [];
}

/** A piece of text: special = index into the specials list, or -1 for ordinary text. */
export interface Section {
  text: string;
  special: number;
}

/** Cuts the special-token strings out of text, leftmost match first, the longest special on ties. */

export function splitSpecials(text: string, specials: readonly string[]): Section[] {
  if (specials.length === 0 || text.length === 0) return text.length === 0 ? [] : [{ text, special: -1 }];
  const order = specials.map((s, i) => [s, i] as const).sort((a, b) => b[0].length - a[0].length);
  const escaped = order.map(([s]) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const re = new RegExp(escaped.join("|"), "g");
  const index = new Map(order);
  const out: Section[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    const at = m.index ?? 0;
    if (at > last) out.push({ text: text.slice(last, at), special: -1 });
    out.push({ text: m[0], special: index.get(m[0]) ?? -1 });
    last = at + m[0].length;
  }
  if (last < text.length) out.push({ text: text.slice(last), special: -1 });
  return out;
}
