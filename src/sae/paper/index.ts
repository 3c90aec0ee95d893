/**
 * The paper's five cumulative architectures by name (src/sae/registry.ts joins them with the baselines).
 */
import type { PaperArch, SaeFactory } from "../types.ts";
import { adaptiveFactory } from "./adaptive.ts";
import { attentionFactory } from "./attention.ts";
import { baseFactory } from "./base.ts";
import { layernormFactory } from "./layernorm.ts";
import { multiscaleFactory } from "./multiscale.ts";

export const PAPER_FACTORIES: Record<PaperArch, SaeFactory> = {
  base: baseFactory,
  layernorm: layernormFactory,
  adaptive: adaptiveFactory,
  attention: attentionFactory,
  multiscale: multiscaleFactory,
};
