/**
 * The field's six standard SAEs (DESIGN.md s.2 "Baselines"), one file each, keyed by BaselineArch.
 * The registry (src/sae/registry.ts) merges these with the paper architectures.
 */
import type { BaselineArch, SaeFactory } from "../types.ts";
import { batchtopkFactory } from "./batchtopk.ts";
import { gatedFactory } from "./gated.ts";
import { jumpreluFactory } from "./jumprelu.ts";
import { matryoshkaFactory } from "./matryoshka.ts";
import { reluFactory } from "./relu.ts";
import { topkFactory } from "./topk.ts";

export const BASELINE_FACTORIES: Record<BaselineArch, SaeFactory> = {
  relu: reluFactory,
  topk: topkFactory,
  batchtopk: batchtopkFactory,
  jumprelu: jumpreluFactory,
  gated: gatedFactory,
  matryoshka: matryoshkaFactory,
};
