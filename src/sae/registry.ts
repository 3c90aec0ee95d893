/**
 * Every SAE architecture by name (DESIGN.md s.2): the paper's five cumulative archs
 * (src/sae/paper/) and the field's six standard baselines (src/sae/baselines/), keyed by the
 * `SaeArch` union so a new variant without a factory does not compile. The trainer, the loader
 * (src/sae/load.ts takes this map) and the CLI build modules only through it.
 */
import { BASELINE_FACTORIES } from "./baselines/index.ts";
import { PAPER_FACTORIES } from "./paper/index.ts";
import type { SaeArch, SaeFactory } from "./types.ts";

export const SAE_FACTORIES: Record<SaeArch, SaeFactory> = { ...PAPER_FACTORIES, ...BASELINE_FACTORIES };

/** The TopK family: trained with AuxK on a dead-latent mask (DESIGN.md s.2). */
export const TOPK_FAMILY: readonly SaeArch[] = ["topk", "batchtopk", "matryoshka"];
