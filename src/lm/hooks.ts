/**
 * Hook points of a language model: names, validation, and the per-run plan (capture + splice).
 *
 * Names follow TransformerLens / SAELens: `blocks.{L}.hook_{kind}` with kind one of
 *   resid_pre   the residual stream entering block L (for L = 0: the scaled token embedding for
 *               Gemma-2, token + position embedding for GPT-2);
 *   attn_out    what the attention sub-block adds to the residual stream. For Gemma-2 this is the
 *               output AFTER post_attention_layernorm (TransformerLens applies ln1_post before
 *               hook_attn_out "so hook_attn_out captures that which is added to the residual
 *               stream"); for GPT-2 the c_proj output including its bias;
 *   mlp_out     likewise for the MLP (Gemma-2: after post_feedforward_layernorm);
 *   resid_post  the residual stream leaving block L (= resid_pre of block L + 1, before the final
 *               norm for the last block).
 *
 * At each hook point the splice function (if any) runs first, in place, and the capture (if any)
 * then records the value the rest of the model sees. resid_post of block L and resid_pre of
 * block L + 1 are the same tensor: the resid_post splice runs first, then the resid_pre splice.
 */

export const HOOK_KINDS = ["resid_pre", "attn_out", "mlp_out", "resid_post"] as const;
export type HookKind = (typeof HOOK_KINDS)[number];

/** A splice replaces an activation in place: act [rows, d], rows = batch * seq (row b * seq + t). */
export type SpliceFn = (act: Float32Array, rows: number, d: number) => void;

/** Called by an architecture's layer code at each hook point inside a block: act [rows, d]. */
export type HookCallback = (layer: number, kind: HookKind, act: Float32Array) => void;

export function hookName(layer: number, kind: HookKind): string {
  return `blocks.${layer}.hook_${kind}`;
}

/** Every hook name of a model with `nLayers` blocks, block by block in forward order. */
export function listHookNames(nLayers: number): string[] {
  const out: string[] = [];
  for (let l = 0; l < nLayers; l++) for (const k of HOOK_KINDS) out.push(hookName(l, k));
  return out;
}

function validHooksText(nLayers: number): string {
  return `blocks.{L}.hook_{${HOOK_KINDS.join("|")}} with L in 0..${nLayers - 1}`;
}

/** Parses a hook name; throws a one-line error listing the valid ones when it is not one. */
export function parseHookName(name: string, nLayers: number): { layer: number; kind: HookKind } {
  const m = /^blocks\.(\d+)\.hook_([a-z_]+)$/.exec(String(name));
  const kind = m?.[2] as HookKind | undefined;
  const layer = m ? Number(m[1]) : -1;
  if (!m || !HOOK_KINDS.includes(kind as HookKind) || layer >= nLayers || String(layer) !== m[1]) {
    throw new RangeError(`unknown hook ${JSON.stringify(name)}: valid hooks are ${validHooksText(nLayers)}`);
  }
  return { layer, kind: kind as HookKind };
}

/** Options of LanguageModel.run. */
export interface RunOptions {
  /** Hook names whose activations are returned in `cache` ([batch, seq, d] each). */
  capture?: readonly string[];
  /** Hook name -> function rewriting the activation in place before the model goes on. */
  splice?: Readonly<Record<string, SpliceFn>>;
  /** Compute logits (default true). When false the forward stops after the last block a hook needs. */
  logits?: boolean;
  /**
   * Return fresh arrays (default false). By default logits and captures live in the model's
   * workspace and are overwritten by the next run with the same shape; copy what you keep.
   */
  copy?: boolean;
  /**
   * Start the forward at block `layer` from this residual stream [batch * seq, d] (the stream
   * entering that block, i.e. blocks.{layer-1}.hook_resid_post; layer = nLayers runs only the head)
   * instead of embedding the ids, which then only give the shape. What a spliced forward reuses
   * from the clean one: everything upstream of the splice is the same. Hooks upstream of `layer`
   * are refused.
   */
  start?: { layer: number; resid: Float32Array };
}

/** The hooks one run needs, resolved against the model's depth. */
export class HookPlan {
  /** Blocks to run: all when logits are wanted, else up to the last hooked one. */
  readonly layersToRun: number;
  private readonly entries = new Map<string, { capture: boolean; splice: SpliceFn | null }>();

  constructor(nLayers: number, options: RunOptions) {
    const wantLogits = options.logits ?? true;
    let needed = 0;
    const touch = (name: string) => {
      const { layer, kind } = parseHookName(name, nLayers);
      needed = Math.max(needed, kind === "resid_pre" ? layer : layer + 1);
      let e = this.entries.get(name);
      if (!e) {
        e = { capture: false, splice: null };
        this.entries.set(name, e);
      }
      return e;
    };
    for (const name of options.capture ?? []) touch(name).capture = true;
    for (const [name, fn] of Object.entries(options.splice ?? {})) {
      if (typeof fn !== "function")
        throw new TypeError(`splice for hook ${name} must be a function (act, rows, d) => void`);
      touch(name).splice = fn;
    }
    this.layersToRun = wantLogits ? nLayers : needed;
  }

  /** The plan's action at one hook point, or undefined when nothing happens there. */
  get(layer: number, kind: HookKind): { capture: boolean; splice: SpliceFn | null } | undefined {
    if (this.entries.size === 0) return undefined;
    return this.entries.get(hookName(layer, kind));
  }

  /** The first hook of the plan in a block before `layer` (a forward started there never reaches it), or null. */
  firstBefore(layer: number): string | null {
    for (const name of this.entries.keys()) if (Number(name.split(".")[1]) < layer) return name;
    return null;
  }

  /** Names captured, in forward order. */
  captured(nLayers: number): string[] {
    return listHookNames(nLayers).filter((n) => this.entries.get(n)?.capture);
  }
}
