/**
 * Fuzz format "safetensors": corrupted model.safetensors files in a Gemma-2 model folder (the
 * gemma2-old golden fixture), loaded by loadModel (tokenizer off). A correct load must give every
 * weight exactly as an independent decode of the bytes says (header parsed here with JSON.parse,
 * BF16 / F16 / F32 / F64 decoded here bit by bit), all finite.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getBackend } from "../../../src/core/backends/index.ts";
import type { Gemma2Model } from "../../../src/lm/gemma2/forward.ts";
import { loadModel } from "../../../src/lm/loader.ts";
import type { LanguageModel } from "../../../src/lm/model.ts";
import { byteCorruptors, type Corruptor, concat, type FuzzFormat, jsonCorruptors, type Rng } from "../generator.ts";

const FIXTURE = join(import.meta.dirname, "..", "..", "golden", "lm", "gemma2-old");
const int = (rng: Rng, n: number) => Math.floor(rng.next() * n);

interface Split {
  n: number;
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  data: Uint8Array;
}

function split(b: Uint8Array): Split {
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  return { n, header: JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))), data: b.subarray(8 + n) };
}

function assemble(headerText: string, data: Uint8Array, pad = true): Uint8Array {
  let h: Uint8Array = new TextEncoder().encode(headerText);
  if (pad && h.length % 8) h = concat(h, new Uint8Array(8 - (h.length % 8)).fill(0x20));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(h.length), true);
  return concat(len, h, data);
}

/** Applies a JSON corruptor to the header only (the length field kept right). */
function onHeader(c: Corruptor): Corruptor {
  return {
    name: `header: ${c.name}`,
    apply: (b, rng) => {
      const s = split(b);
      const text = c.apply(new TextEncoder().encode(JSON.stringify(s.header)), rng);
      return assemble(new TextDecoder().decode(text), s.data);
    },
  };
}

function tensorNames(s: Split): string[] {
  return Object.keys(s.header).filter((k) => k !== "__metadata__");
}

const specific: Corruptor[] = [
  {
    name: "length field off by a few",
    apply: (b, rng) => {
      const out = Uint8Array.from(b);
      const s = split(b);
      const d = (1 + int(rng, 16)) * (rng.next() < 0.5 ? -1 : 1);
      new DataView(out.buffer).setBigUint64(0, BigInt(Math.max(0, s.n + d)), true);
      return out;
    },
  },
  {
    name: "trailing bytes",
    apply: (b, rng) =>
      concat(
        b,
        Uint8Array.from({ length: 1 + int(rng, 64) }, () => int(rng, 256)),
      ),
  },
  {
    name: "gap before a tensor",
    apply: (b, rng) => {
      const s = split(b);
      const names = tensorNames(s);
      const t = s.header[names[int(rng, names.length)]];
      const shift = 1 + int(rng, 8);
      for (const k of names) {
        const e = s.header[k];
        if (e.data_offsets[0] >= t.data_offsets[0])
          e.data_offsets = [e.data_offsets[0] + shift, e.data_offsets[1] + shift];
      }
      return assemble(JSON.stringify(s.header), concat(s.data, new Uint8Array(shift)));
    },
  },
  {
    name: "offsets of two same-size tensors swapped",
    apply: (b, rng) => {
      const s = split(b);
      const names = tensorNames(s);
      const a = s.header[names[int(rng, names.length)]];
      const same = names.filter(
        (k) => s.header[k].data_offsets[1] - s.header[k].data_offsets[0] === a.data_offsets[1] - a.data_offsets[0],
      );
      const c = s.header[same[int(rng, same.length)]];
      [a.data_offsets, c.data_offsets] = [c.data_offsets, a.data_offsets];
      return assemble(JSON.stringify(s.header), s.data);
    },
  },
  {
    name: "dtype changed",
    apply: (b, rng) => {
      const s = split(b);
      const names = tensorNames(s);
      const dts = ["F16", "I16", "U16", "F32", "I8", "BOOL", "F8_E4M3", "F64", "I64"];
      s.header[names[int(rng, names.length)]].dtype = dts[int(rng, dts.length)];
      return assemble(JSON.stringify(s.header), s.data);
    },
  },
  {
    name: "NaN / Inf planted in a weight",
    apply: (b, rng) => {
      const s = split(b);
      const names = tensorNames(s);
      const t = s.header[names[int(rng, names.length)]];
      const [b0, e0] = t.data_offsets;
      const out = Uint8Array.from(b);
      const at = 8 + s.n + b0 + 2 * int(rng, (e0 - b0) / 2);
      const bits = [0x7fc0, 0x7f80, 0xff80, 0xffc1][int(rng, 4)];
      out[at] = bits & 0xff;
      out[at + 1] = bits >> 8;
      return out;
    },
  },
  {
    name: "huge finite value planted",
    apply: (b, rng) => {
      const s = split(b);
      const out = Uint8Array.from(b);
      const at = 8 + s.n + 2 * int(rng, s.data.length / 2);
      out[at] = 0x7f;
      out[at + 1] = rng.next() < 0.5 ? 0x7f : 0xff;
      return out;
    },
  },
  {
    name: "header bytes flipped",
    apply: (b, rng) => {
      const s = split(b);
      const out = Uint8Array.from(b);
      for (let j = 0, k = 1 + int(rng, 3); j < k; j++) out[8 + int(rng, s.n)] ^= 1 << int(rng, 8);
      return out;
    },
  },
  {
    name: "padding stripped or leading space",
    apply: (b, rng) => {
      const s = split(b);
      const text = JSON.stringify(s.header);
      return rng.next() < 0.5 ? assemble(text, s.data, false) : assemble(` ${text}`, s.data, false);
    },
  },
];

const U32 = new Uint32Array(1);
const F32 = new Float32Array(U32.buffer);

/** Independent decode of one stored value to float32. */
function decode(dtype: string, view: DataView, off: number, i: number): number {
  switch (dtype) {
    case "BF16":
      U32[0] = view.getUint16(off + 2 * i, true) << 16;
      return F32[0];
    case "F16": {
      const h = view.getUint16(off + 2 * i, true);
      const sgn = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      if (e === 0) return sgn * m * 2 ** -24;
      if (e === 31) return m ? Number.NaN : sgn * Number.POSITIVE_INFINITY;
      return sgn * (1 + m / 1024) * 2 ** (e - 15);
    }
    case "F32":
      return view.getFloat32(off + 4 * i, true);
    case "F64":
      return Math.fround(view.getFloat64(off + 8 * i, true));
    default:
      throw new Error(`a ${dtype} tensor was loaded as a float weight`);
  }
}

const FIELDS: [keyof Gemma2Model["w"]["layers"][number], string][] = [
  ["inputNorm", "input_layernorm"],
  ["wq", "self_attn.q_proj"],
  ["wk", "self_attn.k_proj"],
  ["wv", "self_attn.v_proj"],
  ["wo", "self_attn.o_proj"],
  ["postAttnNorm", "post_attention_layernorm"],
  ["preFfNorm", "pre_feedforward_layernorm"],
  ["wGate", "mlp.gate_proj"],
  ["wUp", "mlp.up_proj"],
  ["wDown", "mlp.down_proj"],
  ["postFfNorm", "post_feedforward_layernorm"],
];

export const safetensorsFormat: FuzzFormat<LanguageModel> = {
  name: "safetensors",
  bases: (work) => {
    const dir = join(work, "st-model");
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(FIXTURE, "config.json"), join(dir, "config.json"));
    return [new Uint8Array(readFileSync(join(FIXTURE, "model.safetensors")))];
  },
  corruptors: [...specific, ...specific, ...byteCorruptors, ...jsonCorruptors.map(onHeader)],
  load: (bytes, work) => {
    const dir = join(work, "st-model");
    writeFileSync(join(dir, "model.safetensors"), bytes);
    return loadModel(dir, { backend: getBackend(), tokenizer: false });
  },
  check: (model, bytes) => {
    const s = split(bytes);
    const view = new DataView(bytes.buffer, bytes.byteOffset + 8 + s.n);
    const w = (model.arch as unknown as Gemma2Model).w;
    const want = (name: string, got: Float32Array) => {
      const e = s.header[`model.${name}`];
      if (!e) throw new Error(`loaded ${name}, which the header lacks`);
      for (let i = 0; i < got.length; i++) {
        if (!Number.isFinite(got[i])) throw new Error(`${name}[${i}] is ${got[i]}`);
        const v = decode(e.dtype, view, e.data_offsets[0], i);
        if (!Object.is(v, got[i])) throw new Error(`${name}[${i}] is ${got[i]}; the bytes say ${v}`);
      }
    };
    want("embed_tokens.weight", w.embed);
    want("norm.weight", w.finalNorm);
    w.layers.forEach((l, i) => {
      for (const [field, hf] of FIELDS) want(`layers.${i}.${hf}.weight`, l[field]);
    });
  },
};
