/**
 * Fuzz formats "corpus .txt", "corpus .jsonl", "corpus .parquet": corrupted corpus files read by
 * openCorpus(path).documents(). A correct load must give exactly what the bytes hold, decoded here
 * independently: a .txt is one document equal to the file's UTF-8 text (BOM dropped); a .jsonl
 * gives the non-empty `text` fields of its non-blank lines, in order; a .parquet gives strings with
 * no lone surrogate. Invalid UTF-8 must be refused (never turned into U+FFFD).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brownDocument } from "../../../src/data/brown.ts";
import { openCorpus } from "../../../src/data/spec.ts";
import { writeParquet } from "../../helpers/parquet.ts";
import { byteCorruptors, type Corruptor, concat, type FuzzFormat, type Rng } from "../generator.ts";

const int = (rng: Rng, n: number) => Math.floor(rng.next() * n);
const enc = new TextEncoder();

async function collect(path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const d of openCorpus(path).documents()) out.push(d);
  return out;
}

/** Strict independent UTF-8 decode (null when invalid): Buffer decoding, then a re-encode round trip. */
function strictUtf8(b: Uint8Array): string | null {
  const s = Buffer.from(b).toString("utf8");
  return Buffer.from(s, "utf8").equals(Buffer.from(b)) ? s : null;
}

const textCorruptors: Corruptor[] = [
  {
    name: "invalid UTF-8 inserted",
    apply: (b, rng) => {
      const at = int(rng, b.length + 1);
      const bad = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80], [0xf4, 0x90, 0x80, 0x80]][
        int(rng, 6)
      ];
      return concat(b.subarray(0, at), Uint8Array.from(bad), b.subarray(at));
    },
  },
  {
    name: "BOM / NUL / CR inserted",
    apply: (b, rng) => {
      const at = int(rng, b.length + 1);
      const ins = [[0xef, 0xbb, 0xbf], [0], [0x0d], [0x0d, 0x0a], [0x0a, 0x0a]][int(rng, 5)];
      return concat(b.subarray(0, at), Uint8Array.from(ins), b.subarray(at));
    },
  },
];

function fileFormat(
  name: string,
  ext: string,
  bases: () => Uint8Array[],
  extra: Corruptor[],
  check: (docs: string[], bytes: Uint8Array) => void,
): FuzzFormat<string[]> {
  return {
    name,
    bases: (work) => {
      mkdirSync(join(work, "corpus"), { recursive: true });
      return bases();
    },
    corruptors: [...byteCorruptors, ...textCorruptors, ...extra, ...extra],
    load: (bytes, work) => {
      const p = join(work, "corpus", `c${ext}`);
      writeFileSync(p, bytes);
      return collect(p);
    },
    check,
  };
}

export const txtFormat = fileFormat(
  "corpus .txt",
  ".txt",
  () => [enc.encode(brownDocument("ca01").slice(0, 3000)), enc.encode("héllo wörld 日本語 😀\n")],
  [],
  (docs, bytes) => {
    let s = strictUtf8(bytes);
    if (s === null) throw new Error("invalid UTF-8 was accepted");
    if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    const want = s.length ? [s] : [];
    if (docs.length !== want.length || docs[0] !== want[0])
      throw new Error("the document differs from the file's text");
  },
);

const JSONL_BASE = [
  JSON.stringify({ text: "first document", id: 1 }),
  JSON.stringify({ text: "second: é 日本 😀", meta: { a: [1, 2] } }),
  "",
  JSON.stringify({ text: "" }),
  JSON.stringify({ text: "last\nline with an escaped newline" }),
].join("\n");

export const jsonlFormat = fileFormat(
  "corpus .jsonl",
  ".jsonl",
  () => [enc.encode(`${JSONL_BASE}\n`), enc.encode(JSONL_BASE.replace(/\n/g, "\r\n"))],
  [
    {
      name: "line replaced",
      apply: (b, rng) => {
        const lines = Buffer.from(b).toString("utf8").split("\n");
        const odd = [
          '{"text": 5}',
          '{"txt":"x"}',
          "[1]",
          "null",
          '{"text":"a"',
          '{"text":"\\ud800"}',
          " ",
          '{"text":null}',
        ];
        lines[int(rng, lines.length)] = odd[int(rng, odd.length)];
        return enc.encode(lines.join("\n"));
      },
    },
  ],
  (docs, bytes) => {
    const s = strictUtf8(bytes);
    if (s === null) throw new Error("invalid UTF-8 was accepted");
    const want: string[] = [];
    s.split("\n").forEach((line, i) => {
      const l = i === 0 && line.charCodeAt(0) === 0xfeff ? line.slice(1) : line;
      if (l.trim().length === 0) return;
      const t = JSON.parse(l).text;
      if (typeof t !== "string") throw new Error(`line ${i + 1} has no string text but was accepted`);
      if (t.length) want.push(t);
    });
    if (JSON.stringify(docs) !== JSON.stringify(want)) throw new Error("documents differ from the lines' text fields");
  },
);

export const parquetFormat = fileFormat(
  "corpus .parquet",
  ".parquet",
  () => {
    const out: Uint8Array[] = [];
    for (const codec of [0, 2] as const) {
      const p = join(process.env.MSAE_FUZZ_WORK ?? "/tmp", `base-${codec}.parquet`);
      writeParquet(
        p,
        "text",
        [
          ["alpha", "beta é"],
          ["gamma 日本", "", "delta"],
        ],
        codec,
      );
      out.push(new Uint8Array(readFileSync(p)));
    }
    return out;
  },
  [],
  (docs) => {
    for (const d of docs) {
      if (typeof d !== "string" || d.length === 0) throw new Error(`document ${JSON.stringify(d)}`);
      if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(d))
        throw new Error("a lone surrogate in a document");
    }
  },
);
