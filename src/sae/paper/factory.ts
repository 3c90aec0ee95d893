/**
 * Factory glue shared by the five paper architecture files: a SaeFactory building a PaperSae with
 * the options of one architecture (checks that the hyperparameters name that architecture).
 */
import type { FloatArray } from "../../core/backend.ts";
import type { PaperArch, SaeFactory } from "../types.ts";
import { type PaperOptions, PaperSae } from "./model.ts";

export function paperFactory(arch: PaperArch, options: PaperOptions): SaeFactory {
  return <A extends FloatArray>(
    hyper: Parameters<SaeFactory>[0],
    backend: Parameters<SaeFactory>[1],
    init: { arrayType: "f32" | "f64"; seed: number; firstBatch: A; rows: number },
  ) => {
    if (hyper.arch !== arch) throw new Error(`the ${arch} factory was given hyperparameters of arch ${hyper.arch}`);
    return new PaperSae<A>(hyper, backend, options, init);
  };
}
