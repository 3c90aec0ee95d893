/**
 * The contract every SAE variant implements (DESIGN.md s.2), the trainer drives and the
 * evaluation, feature pages and explorer read. One file per variant under src/sae/ implements
 * `SaeModule`; src/sae/registry.ts maps each `SaeArch` to its factory.
 *
 * Spaces. Every batch a module sees is already in the SAE's input space: the model's activation
 * times the dataset constant c (E||c x||^2 = d, DESIGN.md s.2). `forward` returns the
 * reconstruction in that same input space (for `reconstruct: "paper"` the normalized
 * architectures return h W_dec + b_dec, what eq. 6 compares with x); callers divide by c to report
 * in the model's units.
 *
 * Shapes: x [rows, d]; codes [rows, m] (h', after attention where the architecture has it);
 * recon [rows, d]. Parameters and buffers use the tensor names of DESIGN.md s.2 (W_enc [d, m],
 * b_enc [m], W_dec [m, d], b_dec [d], ln_gamma, ...), so saving is a walk over `params` and
 * `buffers`.
 */
import type { Backend, FloatArray } from "../core/backend.ts";
import type { Parameter } from "../core/parameter.ts";

export const PAPER_ARCHS = ["base", "layernorm", "adaptive", "attention", "multiscale"] as const;
export const BASELINE_ARCHS = ["relu", "topk", "batchtopk", "jumprelu", "gated", "matryoshka"] as const;
export const SAE_ARCHS = [...PAPER_ARCHS, ...BASELINE_ARCHS] as const;
export type PaperArch = (typeof PAPER_ARCHS)[number];
export type BaselineArch = (typeof BASELINE_ARCHS)[number];
export type SaeArch = (typeof SAE_ARCHS)[number];

/** Archs whose input is normalized (no b_dec subtraction; the dataset scale cannot be folded). */
export const NORMALIZED_ARCHS: readonly SaeArch[] = ["layernorm", "adaptive", "attention", "multiscale"];

export function isSaeArch(name: string): name is SaeArch {
  return (SAE_ARCHS as readonly string[]).includes(name);
}

/** Resolved hyperparameters of one SAE (the zod schema in src/config/sae.ts produces this). */
export interface SaeHyper {
  arch: SaeArch;
  /** Input width d. */
  d: number;
  /** Dictionary size m (= d * expansion). */
  m: number;
  /** Sparsity coefficient (L1 for the paper archs and relu; L0 coefficient for jumprelu; unused by the TopK family). */
  l1: number;
  /** Orthogonality coefficient (paper archs; 0 elsewhere). */
  l2: number;
  /** Active latents per token for topk / batchtopk / matryoshka. */
  k: number;
  /** AuxK coefficient (TopK family; 0 turns it off). */
  auxKCoef: number;
  /** AuxK latents per token (default d / 2). */
  auxK: number;
  /** "denormalized" (default) or "paper" (eq. 6 literally), for the normalized archs. */
  reconstruct: "paper" | "denormalized";
  /** LayerNorm epsilon (1e-5). */
  eps: number;
  /** EMA decay of the co-activation estimate E (0.99) and its threshold tau (0.1). */
  coactBeta: number;
  coactTau: number;
  /** EMA decay of run_mean / run_var (0.99). */
  runBeta: number;
  /** jumprelu: straight-through kernel bandwidth and initial threshold (SAELens: 0.001, 0.001). */
  jumpBandwidth: number;
  jumpInitThreshold: number;
  /** batchtopk / matryoshka: EMA decay of the inference threshold (0.999). */
  thresholdBeta: number;
  /** matryoshka: nested group fractions of m (DESIGN.md s.2: [1/32, 1/16, 1/8, 1/4, 17/32]). */
  matryoshkaFractions: readonly number[];
}

/** Every part of the loss of one micro-batch, each already multiplied by its coefficient. */
export interface LossParts {
  /** mean_b ||x - x^||^2 (matryoshka: mean over prefixes; gated: + its auxiliary reconstruction separately in `aux`). */
  recon: number;
  /** l1 * (the architecture's sparsity term): L1, decoder-weighted L1, or jumprelu's L0. */
  sparsity: number;
  /** l2 * ||M o (W_dec W_dec^T - I)||_F (0 where the architecture has none). */
  ortho: number;
  /** AuxK (TopK family) or gated's auxiliary reconstruction; 0 elsewhere. */
  aux: number;
  /** recon + sparsity + ortho + aux. */
  total: number;
  /** Mean number of nonzero codes per token. */
  l0: number;
}

/** Options of one training micro-batch. */
export interface TrainBatchOptions {
  /**
   * Gradients are ADDED into each Parameter's grad, multiplied by this weight (1 / micro-batches
   * for accumulation). The loss parts returned are unweighted.
   */
  gradWeight: number;
  /** [m] 1 = dead (TopK family AuxK uses it); null = none dead. */
  deadMask: Uint8Array | null;
  /** Update training-time state (co-activation EMA, run_mean/run_var, thresholds). False in gradient checks of a fixed state. */
  updateState: boolean;
}

/** Which axis of a parameter indexes features (importance scaling and reactivation touch it). */
export type FeatureAxis = "row" | "col" | "elem" | null;

export interface SaeParam<A extends FloatArray = FloatArray> {
  param: Parameter<A>;
  /** "col": W_enc [d, m] column i; "row": W_dec [m, d] row i; "elem": b_enc [m] entry i; null: not per feature. */
  featureAxis: FeatureAxis;
}

export interface SaeModule<A extends FloatArray = FloatArray> {
  readonly arch: SaeArch;
  readonly hyper: Readonly<SaeHyper>;
  readonly backend: Backend;
  /** Trainable parameters by tensor name (DESIGN.md s.2), in a fixed order. */
  readonly params: ReadonlyMap<string, SaeParam<A>>;
  /**
   * Non-trainable state saved with the weights (run_mean, run_var, threshold) or in checkpoints (coact_ema, importance).
   * Callers may overwrite `data` between calls (loading, resume); a module derives anything else from it
   * (e.g. the co-activation mask from coact_ema) on its next call.
   */
  readonly buffers: ReadonlyMap<string, { data: A; shape: readonly number[]; inWeights: boolean }>;
  /**
   * Training forward + backward of one micro-batch x [rows, d] (input space). Adds gradients into
   * the Parameters (see TrainBatchOptions). Returns the loss parts; `codes()` then holds h' [rows, m].
   */
  trainBatch(x: A, rows: number, options: TrainBatchOptions): LossParts;
  /** h' [rows, m] of the last trainBatch or forward (a workspace view; copy what you keep). */
  codes(): A;
  /**
   * Column statistics of codes() without materializing them where the module holds them sparse:
   * colSum [m] = sum_b h'_bi (overwritten), fired [m] += #{b : h'_bi > 0}. Returns rows.
   */
  codeColumnStats(colSum: A, fired: Int32Array): number;
  /**
   * Inference (state frozen): codes [rows, m] = h' and recon [rows, d] in the input space.
   * batchtopk / matryoshka use their per-feature threshold (JumpReLU form).
   */
  forward(x: A, rows: number, codes: A, recon: A): void;
  /** Residual space of the decoder for reactivation: writes R = target - (h W_dec + b_dec) [rows, d] for the last trainBatch. */
  decoderResidual(out: A): void;
}

/** Builds a freshly initialized module (the paper's init, DESIGN.md s.2); `firstBatch` [rows, d] sets b_dec. */
export type SaeFactory = <A extends FloatArray>(
  hyper: SaeHyper,
  backend: Backend,
  options: { arrayType: "f32" | "f64"; seed: number; firstBatch: A; rows: number },
) => SaeModule<A>;
