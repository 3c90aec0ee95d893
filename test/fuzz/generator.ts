/**
 * The fuzz generator: seeded corrupted variants of every file format msae reads, each run
 * in-process through the library loader that reads that format. Every variant must end in
 *   - a ONE-line error (an Error whose class is not a JS engine error: no TypeError, RangeError,
 *     ReferenceError or SyntaxError escaping from a loader; message one line, < 600 characters), or
 *   - a correct load: the format's `check` (an independent computation of what the file holds,
 *     done in the test) passes, and nothing the loader returned is NaN / Inf;
 * never an uncaught exception of another kind, a crash, a hang or a non-finite result.
 *
 * Adding a format (activation stores and SAE folders later) = one file under test/fuzz/formats/
 * exporting a FuzzFormat, listed in test/fuzz/formats/index.ts:
 *
 *   export const myFormat: FuzzFormat = {
 *     name: "my-format",
 *     bases: (work) => [...],             // valid files (bytes) to corrupt, made in `work`
 *     corruptors: [...],                  // (base, rng) => bytes: each a named corruption
 *     load: async (bytes, work, base) => ..., // writes bytes where the loader looks (base: the
 *                                         // index of the base corrupted), calls the loader
 *     check: (loaded, bytes) => ...,      // on success: throws if what was loaded is not what the
 *   };                                    // bytes say (independently decoded) or is non-finite
 *
 * runFormat(format, { cases, seed, work }) draws `cases` variants: variant k uses base
 * k % bases.length and a corruptor picked by the seeded Rng, so a failure names its seed, case
 * number and corruptor, and is reproduced by running that one case again:
 *   npx tsx test/fuzz/repro.ts "config.json" 702 [seed]   (writes ./fuzz-case.bin, prints the outcome)
 * (add the new format to FORMAT_LIST in formats/index.ts too). MSAE_FUZZ_SEED=n runs the suite
 * with another seed. The generic corruptors
 * below (bytes: flip, truncate, insert, delete, splice; JSON: a value replaced by another type,
 * a key dropped or duplicated, numbers nudged, the text cut) are shared by the formats.
 */
import { Rng } from "../../src/core/tensor.ts";

export { Rng };

export type Corruptor<B = Uint8Array> = { name: string; apply: (base: B, rng: Rng) => Uint8Array };

export interface FuzzFormat<L = unknown> {
  name: string;
  /** Valid files to corrupt (made under `work`, a private temp folder). */
  bases: (work: string) => Uint8Array[] | Promise<Uint8Array[]>;
  corruptors: Corruptor[];
  /** Loads `bytes` through the library (writing them where the loader looks, under `work`). */
  load: (bytes: Uint8Array, work: string, base: number) => L | Promise<L>;
  /** Throws unless a successful load is correct (independently decoded) and finite. */
  check: (loaded: L, bytes: Uint8Array) => void;
}

export interface FuzzStats {
  format: string;
  cases: number;
  loaded: number;
  refused: number;
  seconds: number;
  /** Refusal count per corruptor name. */
  byCorruptor: Record<string, { cases: number; refused: number }>;
}

const ENGINE_ERRORS = [TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError];

/** Why `e` is not an acceptable loader error, or null when it is one. */
export function badError(e: unknown): string | null {
  if (!(e instanceof Error)) return `threw a non-Error: ${String(e)}`;
  if (ENGINE_ERRORS.some((k) => e.constructor === k)) return `a raw ${e.constructor.name} escaped: ${e.message}`;
  if (/[\r\n]/.test(e.message)) return `multi-line message: ${JSON.stringify(e.message)}`;
  if (e.message.length === 0 || e.message.length > 600) return `message length ${e.message.length}`;
  if (/\bat .*\(.*:\d+:\d+\)/.test(e.message)) return `stack trace in the message: ${e.message}`;
  return null;
}

export async function runFormat<L>(
  format: FuzzFormat<L>,
  o: { cases: number; seed: number; work: string },
): Promise<FuzzStats> {
  const t0 = performance.now();
  const rng = new Rng(o.seed);
  const bases = await format.bases(o.work);
  const stats: FuzzStats = {
    format: format.name,
    cases: 0,
    loaded: 0,
    refused: 0,
    seconds: 0,
    byCorruptor: {},
  };
  // every base loads correctly uncorrupted (else the corruptions prove nothing)
  for (const [i, b] of bases.entries()) {
    let loaded: L;
    try {
      loaded = await format.load(b, o.work, i);
    } catch (e) {
      throw new Error(`${format.name}: base ${i} does not load: ${(e as Error).message}`);
    }
    format.check(loaded, b);
  }
  for (let k = 0; k < o.cases; k++) {
    const base = bases[k % bases.length];
    const c = format.corruptors[Math.floor(rng.next() * format.corruptors.length)];
    const bytes = c.apply(base, rng);
    const label = `${format.name} seed ${o.seed} case ${k} (${c.name}, base ${k % bases.length})`;
    const slot = (stats.byCorruptor[c.name] ??= { cases: 0, refused: 0 });
    slot.cases++;
    stats.cases++;
    let loaded: L;
    try {
      loaded = await format.load(bytes, o.work, k % bases.length);
    } catch (e) {
      const why = badError(e);
      if (why) throw new Error(`${label}: ${why}`);
      stats.refused++;
      slot.refused++;
      continue;
    }
    try {
      format.check(loaded, bytes);
    } catch (e) {
      throw new Error(`${label}: loaded, but wrongly: ${(e as Error).message}`);
    }
    stats.loaded++;
  }
  stats.seconds = (performance.now() - t0) / 1000;
  return stats;
}

// ---------------------------------------------------------------- generic byte corruptors

const int = (rng: Rng, n: number) => Math.floor(rng.next() * n);

export const byteCorruptors: Corruptor[] = [
  {
    name: "bit flips",
    apply: (b, rng) => {
      const out = Uint8Array.from(b);
      const n = 1 + int(rng, 4);
      for (let j = 0; j < n && out.length; j++) out[int(rng, out.length)] ^= 1 << int(rng, 8);
      return out;
    },
  },
  { name: "truncate", apply: (b, rng) => b.slice(0, int(rng, b.length)) },
  {
    name: "insert bytes",
    apply: (b, rng) => {
      const at = int(rng, b.length + 1);
      const ins = Uint8Array.from({ length: 1 + int(rng, 8) }, () => int(rng, 256));
      return concat(b.subarray(0, at), ins, b.subarray(at));
    },
  },
  {
    name: "delete bytes",
    apply: (b, rng) => {
      const at = int(rng, b.length);
      return concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(rng, 8))));
    },
  },
  {
    name: "random byte",
    apply: (b, rng) => {
      const out = Uint8Array.from(b);
      if (out.length) out[int(rng, out.length)] = int(rng, 256);
      return out;
    },
  },
  { name: "empty", apply: () => new Uint8Array(0) },
];

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------- generic JSON corruptors

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const ODD_VALUES: Json[] = [
  null,
  true,
  false,
  0,
  -1,
  1,
  1.5,
  2 ** 31,
  2 ** 53,
  1e308,
  -1e-308,
  "",
  "x",
  [],
  {},
  [1],
  { a: 1 },
];

/** Every [container, key] pair of a JSON value (objects and arrays), depth-first. */
function slots(v: Json, out: [Json[] | Record<string, Json>, string | number][] = []): typeof out {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([v, i]);
      slots(x, out);
    });
  } else if (v && typeof v === "object") {
    for (const k of Object.keys(v)) {
      out.push([v, k]);
      slots(v[k], out);
    }
  }
  return out;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A JSON corruptor: mutate(parsed, rng) edits a parsed copy of the base in place. */
function jsonEdit(name: string, mutate: (root: Json, rng: Rng) => Json | undefined): Corruptor {
  return {
    name,
    apply: (b, rng) => {
      const root = JSON.parse(dec.decode(b)) as Json;
      const next = mutate(root, rng);
      return enc.encode(JSON.stringify(next === undefined ? root : next));
    },
  };
}

/** Picks a slot, biased to the `prefer` predicate (e.g. top-level or numeric fields) half the time. */
function pick(root: Json, rng: Rng, prefer?: (v: Json) => boolean) {
  const all = slots(root);
  if (all.length === 0) return null;
  if (prefer && rng.next() < 0.5) {
    const good = all.filter(([c, k]) => prefer((c as Record<string, Json>)[k as string]));
    if (good.length) return good[int(rng, good.length)];
  }
  return all[int(rng, all.length)];
}

export const jsonCorruptors: Corruptor[] = [
  jsonEdit("value -> odd value", (root, rng) => {
    const s = pick(root, rng);
    if (s) (s[0] as Record<string, Json>)[s[1] as string] = ODD_VALUES[int(rng, ODD_VALUES.length)];
    return undefined;
  }),
  jsonEdit("top-level value -> odd value", (root, rng) => {
    if (root && typeof root === "object" && !Array.isArray(root)) {
      const keys = Object.keys(root);
      if (keys.length) root[keys[int(rng, keys.length)]] = ODD_VALUES[int(rng, ODD_VALUES.length)];
    }
    return undefined;
  }),
  jsonEdit("number nudged", (root, rng) => {
    const s = pick(root, rng, (v) => typeof v === "number");
    if (!s) return undefined;
    const c = s[0] as Record<string, Json>;
    const v = c[s[1] as string];
    if (typeof v === "number") {
      const ops = [v + 1, v - 1, v * 2, -v, 0, v / 3, v * 1e6, v + 0.5];
      c[s[1] as string] = ops[int(rng, ops.length)];
    }
    return undefined;
  }),
  jsonEdit("key dropped", (root, rng) => {
    const s = pick(root, rng);
    if (!s) return undefined;
    if (Array.isArray(s[0])) s[0].splice(s[1] as number, 1);
    else delete s[0][s[1] as string];
    return undefined;
  }),
  jsonEdit("top-level key dropped", (root, rng) => {
    if (root && typeof root === "object" && !Array.isArray(root)) {
      const keys = Object.keys(root);
      if (keys.length) delete root[keys[int(rng, keys.length)]];
    }
    return undefined;
  }),
  jsonEdit("string changed", (root, rng) => {
    const s = pick(root, rng, (v) => typeof v === "string");
    if (!s) return undefined;
    const c = s[0] as Record<string, Json>;
    const v = c[s[1] as string];
    if (typeof v === "string") {
      const ops = [`${v}x`, v.slice(1), "", v.toUpperCase(), `${v} ${v}`, "\u0000", "\ud800"];
      c[s[1] as string] = ops[int(rng, ops.length)];
    }
    return undefined;
  }),
  jsonEdit("two values swapped", (root, rng) => {
    const a = pick(root, rng);
    const b = pick(root, rng);
    if (!a || !b) return undefined;
    const ca = a[0] as Record<string, Json>;
    const cb = b[0] as Record<string, Json>;
    const va = ca[a[1] as string];
    const vb = cb[b[1] as string];
    if (typeof va !== "object" && typeof vb !== "object") {
      ca[a[1] as string] = vb;
      cb[b[1] as string] = va;
    }
    return undefined;
  }),
  jsonEdit("root replaced", (_root, rng) => [null, [], "x", 5, true][int(rng, 5)]),
  {
    name: "duplicate key (text)",
    apply: (b, rng) => {
      const text = dec.decode(b);
      const m = [...text.matchAll(/"([^"\\]{1,40})"\s*:/g)];
      if (m.length === 0) return b;
      const k = m[int(rng, m.length)];
      const close = text.lastIndexOf("}");
      return enc.encode(`${text.slice(0, close)},"${k[1]}":${JSON.stringify(ODD_VALUES[int(rng, 6)])}}`);
    },
  },
  {
    name: "JSON text cut",
    apply: (b, rng) => b.slice(0, int(rng, b.length)),
  },
];
