/**
 * Fuzz format "SAE weights": corrupted sae_weights.safetensors files of two SAE folders written by
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
import { byteCorruptors, type FuzzFormat } from "../generator.ts";

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
