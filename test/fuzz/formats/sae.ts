/**
 * Fuzz formats "SAE weights" and "SAE cfg.json" (below).
 *
 * "SAE weights": corrupted sae_weights.safetensors files of two SAE folders written by
 * saveSae (a relu SAE and a multiscale one, cfg.json intact), loaded by loadSae. A correct load
 * must hold exactly what an independent decode of the corrupted bytes says (header parsed here with
 * JSON.parse, F32 read with DataView) for every parameter and saved buffer, all finite (a NaN or
 * Inf must be refused, never loaded).
 */
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseSaeHyper } from "../../../src/config/sae.ts";
import { getBackend } from "../../../src/core/backends/index.ts";
import { loadSae } from "../../../src/sae/load.ts";
import { SAE_FACTORIES } from "../../../src/sae/registry.ts";
import { saveSae } from "../../../src/sae/save.ts";
import type { SaeArch } from "../../../src/sae/types.ts";
import { byteCorruptors, type FuzzFormat, jsonCorruptors } from "../generator.ts";

const ARCHS: SaeArch[] = ["relu", "multiscale"];
const D = 8;
let folders: string[] = [];

type Loaded = Map<string, Float32Array>;

function decode(b: Uint8Array): Map<string, Float32Array> {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  const h = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; data_offsets: [number, number] }
  >;
  const out = new Map<string, Float32Array>();
  for (const [name, e] of Object.entries(h)) {
    if (name === "__metadata__") continue;
    if (e.dtype !== "F32") throw new Error(`independent decode: ${name} is ${e.dtype}, the base files are F32`);
    const a = new Float32Array((e.data_offsets[1] - e.data_offsets[0]) / 4);
    for (let i = 0; i < a.length; i++) a[i] = dv.getFloat32(8 + n + e.data_offsets[0] + 4 * i, true);
    out.set(name, a);
  }
  return out;
}

export const saeWeightsFormat: FuzzFormat<Loaded> = {
  name: "SAE weights",
  bases: (work) => {
    const be = getBackend();
    folders = ARCHS.map((arch, i) => {
      const sae = SAE_FACTORIES[arch]<Float32Array>(parseSaeHyper({ arch, expansion: 2 }, D), be, {
        arrayType: "f32",
        seed: 3 + i,
        firstBatch: new Float32Array(4 * D).map((_, j) => Math.cos(j)),
        rows: 4,
      });
      const dir = join(work, `sae-base-${arch}`);
      if (!existsSync(dir)) saveSae(dir, sae);
      return dir;
    });
    return folders.map((f) => readFileSync(join(f, "sae_weights.safetensors")));
  },
  corruptors: byteCorruptors,
  load: (bytes, work, base) => {
    const dir = join(work, "sae-case");
    rmSync(dir, { recursive: true, force: true });
    cpSync(folders[base], dir, { recursive: true });
    writeFileSync(join(dir, "sae_weights.safetensors"), bytes);
    const loaded = loadSae<Float32Array>(dir, SAE_FACTORIES, getBackend(), { arrayType: "f32" });
    const out: Loaded = new Map();
    for (const [name, { param }] of loaded.sae.params) out.set(name, param.data.slice());
    for (const [name, b] of loaded.sae.buffers) if (b.inWeights) out.set(name, b.data.slice());
    return out;
  },
  check: (loaded, bytes) => {
    const want = decode(bytes);
    if (want.size !== loaded.size) throw new Error(`${loaded.size} tensors loaded, the file holds ${want.size}`);
    for (const [name, a] of loaded) {
      const w = want.get(name);
      if (!w || w.length !== a.length)
        throw new Error(`tensor ${name}: ${a.length} values, the file holds ${w?.length}`);
      for (let i = 0; i < a.length; i++) {
        if (!Number.isFinite(a[i])) throw new Error(`tensor ${name}: non-finite value loaded at ${i}`);
        if (a[i] !== w[i]) throw new Error(`tensor ${name}[${i}] = ${a[i]}, the file holds ${w[i]}`);
      }
    }
  },
};

interface LoadedCfg {
  d: number;
  m: number;
  arch: string;
  params: Map<string, Float32Array>;
  out: Float32Array;
}

/**
 * Fuzz format "SAE cfg.json": corrupted cfg.json files of the same two folders (weights intact).
 * A load that succeeds must be consistent with the weights file (d_in, d_sae equal to W_enc's shape
 * read here from the raw header), hold only finite parameters, and give a finite forward on a fixed
 * input: what a cfg field means (an architecture, apply_b_dec_to_input, a scale) is the loader's to
 * honour, but never as a crash, a raw engine error or NaN.
 */
export const saeCfgFormat: FuzzFormat<LoadedCfg> = {
  name: "SAE cfg.json",
  bases: (work) => {
    saeWeightsFormat.bases(work);
    return folders.map((f) => readFileSync(join(f, "cfg.json")));
  },
  corruptors: [...jsonCorruptors, ...byteCorruptors],
  load: (bytes, work, base) => {
    const dir = join(work, "sae-cfg-case");
    rmSync(dir, { recursive: true, force: true });
    cpSync(folders[base], dir, { recursive: true });
    writeFileSync(join(dir, "cfg.json"), bytes);
    const loaded = loadSae<Float32Array>(dir, SAE_FACTORIES, getBackend(), { arrayType: "f32" });
    const { d, m } = loaded.sae.hyper;
    const x = new Float32Array(3 * d).map((_, i) => Math.sin(i) * loaded.scale);
    const codes = new Float32Array(3 * m);
    const out = new Float32Array(3 * d);
    loaded.sae.forward(x, 3, codes, out);
    const params = new Map<string, Float32Array>();
    for (const [name, { param }] of loaded.sae.params) params.set(name, param.data);
    return { d, m, arch: loaded.sae.arch, params, out };
  },
  check: (loaded, _bytes) => {
    for (const f of folders) {
      const b = readFileSync(join(f, "sae_weights.safetensors"));
      const n = Number(b.readBigUInt64LE(0));
      const h = JSON.parse(b.subarray(8, 8 + n).toString("utf8")) as Record<string, { shape: number[] }>;
      if (h.W_enc.shape[0] === loaded.d && h.W_enc.shape[1] === loaded.m) {
        for (const [name, a] of loaded.params)
          for (let i = 0; i < a.length; i++)
            if (!Number.isFinite(a[i])) throw new Error(`parameter ${name}[${i}] is not finite after loading`);
        for (let i = 0; i < loaded.out.length; i++)
          if (!Number.isFinite(loaded.out[i])) throw new Error(`the forward gave a non-finite value at ${i}`);
        return;
      }
    }
    throw new Error(`loaded d ${loaded.d} x m ${loaded.m}, which no weights file of the folders has`);
  },
};
