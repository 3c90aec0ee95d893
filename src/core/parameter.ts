/**
 * Parameter: a named trainable tensor with its gradient buffer (same length, same array type).
 * Optimizers (src/optim) update `data` from `grad`; autograd (src/autograd) accumulates into `grad`.
 * `rowGradScale`, when set, is applied by the optimizer pipeline before clipping: grad row r
 * (of the leading dim) is multiplied by rowGradScale[r] (the paper's feature-importance scaling).
 * `colGradScale`, when set (2-D parameters only), multiplies grad column c by colGradScale[c]
 * (the same scaling for the encoder's [d, m] layout, where feature i is column i).
 * Both are applied by src/optim/scale.ts (see src/optim/accumulate.ts for the order of a step).
 */
import type { FloatArray } from "./backend.ts";
import { numel, type Shape } from "./tensor.ts";

export class Parameter<A extends FloatArray = Float32Array> {
  readonly name: string;
  readonly shape: Shape;
  readonly data: A;
  readonly grad: A;
  /** Decoupled weight decay applies to this parameter (weight matrices) or not (biases, gains). */
  decay: boolean;
  /** Optional per-row gradient scale [shape[0]] (see header); null = none. */
  rowGradScale: A | null = null;
  /** Optional per-column gradient scale [shape[1]] for 2-D parameters (see header); null = none. */
  colGradScale: A | null = null;

  /**
   * `grad` [shape], optional: a caller-owned gradient buffer (a view into a flat buffer, zeroed);
   * by default a new zeroed array of data's type.
   */
  constructor(name: string, data: A, shape: Shape, decay = shape.length >= 2, grad?: A) {
    if (data.length !== numel(shape)) {
      throw new RangeError(
        `parameter ${name}: data has ${data.length} entries but shape [${shape.join(", ")}] needs ${numel(shape)}`,
      );
    }
    this.name = name;
    this.shape = [...shape];
    this.data = data;
    if (grad && (grad.length !== data.length || grad.constructor !== data.constructor))
      throw new RangeError(`parameter ${name}: grad must have data's type and ${data.length} entries`);
    this.grad = grad ?? new (data.constructor as { new (n: number): A })(data.length);
    this.decay = decay;
  }

  static zeros(name: string, shape: Shape, decay?: boolean): Parameter<Float32Array> {
    return new Parameter(name, new Float32Array(numel(shape)), shape, decay);
  }

  zeroGrad(): void {
    this.grad.fill(0);
  }
}
