/**
 * Which hooks a harvest captures.
 *
 * `--layers auto` takes the paper's relative depths: gemma-2-2b's layers 5, 12 and 19 of 26 map, for
 * a model with L blocks, to round(l * L / 26) for l in {5, 12, 19} (clamped to [0, L - 1], duplicates
 * dropped): 26 blocks -> 5, 12, 19; the shipped 6-block tiny-gemma2 -> 1, 3, 4; GPT-2 small (12) -> 2, 6, 9.
 * `--layers 5,12,19` names blocks; both capture `blocks.{L}.hook_resid_post` (the residual stream, as the
 * paper's SAEs read it). `--hooks` names hook points directly (any kind, see src/lm/hooks.ts).
 * Hooks are returned in forward order, so the deepest one ends the forward.
 */
import { UsageError } from "../core/errors.ts";
import { hookName, parseHookName } from "../lm/hooks.ts";

export const PAPER_LAYERS = [5, 12, 19] as const;
export const PAPER_DEPTH = 26;

/** The paper's relative depths for a model with nLayers blocks (see the header). */
export function paperLayers(nLayers: number): number[] {
  const out: number[] = [];
  for (const l of PAPER_LAYERS) {
    const mapped = Math.min(nLayers - 1, Math.max(0, Math.round((l * nLayers) / PAPER_DEPTH)));
    if (!out.includes(mapped)) out.push(mapped);
  }
  return out;
}

/** Hook names from `--hooks a,b` or `--layers auto|5,12,19` (exactly one of them), in forward order. */
export function resolveHooks(spec: { hooks?: string; layers?: string }, nLayers: number): string[] {
  if (spec.hooks !== undefined && spec.layers !== undefined)
    throw new UsageError("--hooks and --layers both given: expected one of them");
  let names: string[];
  if (spec.hooks !== undefined) {
    names = spec.hooks
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (names.length === 0) throw new UsageError(`--hooks ${JSON.stringify(spec.hooks)} is empty: expected hook names`);
    for (const n of names) {
      try {
        parseHookName(n, nLayers);
      } catch (e) {
        throw new UsageError(`--hooks: ${(e as Error).message}`);
      }
    }
  } else {
    const layers = spec.layers ?? "auto";
    let ls: number[];
    if (layers === "auto") ls = paperLayers(nLayers);
    else {
      ls = layers.split(",").map((s) => Number(s.trim()));
      if (ls.length === 0 || ls.some((l) => !Number.isInteger(l) || l < 0 || l >= nLayers))
        throw new UsageError(
          `--layers ${JSON.stringify(layers)} is not valid: expected auto or block numbers in 0..${nLayers - 1} separated by commas`,
        );
    }
    names = ls.map((l) => hookName(l, "resid_post"));
  }
  const unique = [...new Set(names)];
  const order = (n: string) => {
    const { layer, kind } = parseHookName(n, nLayers);
    return layer * 4 + ["resid_pre", "attn_out", "mlp_out", "resid_post"].indexOf(kind);
  };
  return unique.sort((a, b) => order(a) - order(b));
}
