/**
 * Fixed-capacity storage of example tokens per feature: a pool of `slots` preallocated example
 * slots per feature (each: value, context, position and the token ids and activations of a window
 * of W = before + 1 + after positions), with
 *   - TopHeaps: the `k` largest activations of each feature (a min-heap of slot indices per feature;
 *     ties keep the earlier token in (context, position) order);
 *   - Reservoirs: `k` uniform samples of each (feature, band) stream (Algorithm R, seeded Rng).
 * Nothing grows after construction: memory is m * slots * (12 + 8 W) bytes whatever the token count.
 */
import { Rng } from "../../core/tensor.ts";

/** Window ids: OUTSIDE marks positions before 0 or past the context's end. */
export const OUTSIDE = -2;

export class ExamplePool {
  readonly m: number;
  readonly slots: number;
  readonly width: number;
  /** [m * slots] */
  readonly value: Float32Array;
  readonly context: Int32Array;
  readonly position: Int32Array;
  /** [m * slots, width] */
  readonly ids: Int32Array;
  readonly acts: Float32Array;

  constructor(m: number, slots: number, width: number) {
    this.m = m;
    this.slots = slots;
    this.width = width;
    this.value = new Float32Array(m * slots);
    this.context = new Int32Array(m * slots);
    this.position = new Int32Array(m * slots);
    this.ids = new Int32Array(m * slots * width);
    this.acts = new Float32Array(m * slots * width);
  }

  get bytes(): number {
    return this.value.byteLength * 3 + this.ids.byteLength + this.acts.byteLength;
  }
}

/** Writes one example into a slot: called with the slot index; fills ids/acts there. */
export type FillSlot = (pool: ExamplePool, slot: number) => void;

/** True when example a ranks below b (smaller value; on ties the later token). */
function below(p: ExamplePool, a: number, b: number): boolean {
  const va = p.value[a];
  const vb = p.value[b];
  if (va !== vb) return va < vb;
  if (p.context[a] !== p.context[b]) return p.context[a] > p.context[b];
  return p.position[a] > p.position[b];
}

export class TopHeaps {
  readonly pool: ExamplePool;
  readonly k: number;
  /** [m] entries held per feature. */
  readonly size: Uint32Array;
  /** [m, k] slot indices in heap order (min at 0). */
  private readonly heap: Int32Array;
  /** [m] the heap's minimum value (-1 while not full, so anything positive enters). */
  readonly threshold: Float32Array;
  private readonly spare: Int32Array;

  constructor(m: number, k: number, width: number) {
    // One spare slot per feature receives a candidate before it replaces the minimum.
    this.pool = new ExamplePool(m, k + 1, width);
    this.k = k;
    this.size = new Uint32Array(m);
    this.heap = new Int32Array(m * k);
    this.threshold = new Float32Array(m).fill(-1);
    this.spare = new Int32Array(m);
    for (let f = 0; f < m; f++) {
      this.spare[f] = f * (k + 1) + k;
      for (let i = 0; i < k; i++) this.heap[f * k + i] = f * (k + 1) + i;
    }
  }

  /**
   * Offers (v, context, position) to feature f; `fill` writes the window when it is kept.
   * Callers skip values <= threshold[f] themselves (the hot path); ties at the threshold are decided here.
   */
  offer(f: number, v: number, context: number, position: number, fill: FillSlot): void {
    const p = this.pool;
    const k = this.k;
    const h = f * k;
    const n = this.size[f];
    const slot = n < k ? this.heap[h + n] : this.spare[f];
    p.value[slot] = v;
    p.context[slot] = context;
    p.position[slot] = position;
    if (n < k) {
      fill(p, slot);
      // Sift up.
      let i = n;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!below(p, this.heap[h + i], this.heap[h + parent])) break;
        const t = this.heap[h + i];
        this.heap[h + i] = this.heap[h + parent];
        this.heap[h + parent] = t;
        i = parent;
      }
      this.size[f] = n + 1;
      if (n + 1 === k) this.threshold[f] = p.value[this.heap[h]];
      return;
    }
    if (!below(p, this.heap[h], slot)) return; // not above the current minimum
    fill(p, slot);
    // The candidate takes the root's place; the old root's slot becomes the spare.
    this.spare[f] = this.heap[h];
    this.heap[h] = slot;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let s = i;
      if (l < k && below(p, this.heap[h + l], this.heap[h + s])) s = l;
      if (r < k && below(p, this.heap[h + r], this.heap[h + s])) s = r;
      if (s === i) break;
      const t = this.heap[h + i];
      this.heap[h + i] = this.heap[h + s];
      this.heap[h + s] = t;
      i = s;
    }
    this.threshold[f] = p.value[this.heap[h]];
  }

  /** Feature f's slots, strongest first. */
  sorted(f: number): number[] {
    const p = this.pool;
    const slots = Array.from(this.heap.subarray(f * this.k, f * this.k + this.size[f]));
    return slots.sort((a, b) => (below(p, a, b) ? 1 : below(p, b, a) ? -1 : 0));
  }
}

export class Reservoirs {
  readonly pool: ExamplePool;
  readonly bands: number;
  readonly k: number;
  /** [m, bands] values seen per band. */
  readonly seen: Float64Array;
  private readonly rng: Rng;

  constructor(m: number, bands: number, k: number, width: number, seed: number) {
    this.pool = new ExamplePool(m, bands * k, width);
    this.bands = bands;
    this.k = k;
    this.seen = new Float64Array(m * bands);
    this.rng = new Rng(seed);
  }

  /** Counts (v, ...) in band b of feature f and keeps it with probability k / seen (Algorithm R). */
  offer(f: number, b: number, v: number, context: number, position: number, fill: FillSlot): void {
    const fb = f * this.bands + b;
    const n = ++this.seen[fb];
    let j: number;
    if (n <= this.k) j = n - 1;
    else {
      j = this.rng.int(n);
      if (j >= this.k) return;
    }
    const p = this.pool;
    const slot = fb * this.k + j;
    p.value[slot] = v;
    p.context[slot] = context;
    p.position[slot] = position;
    fill(p, slot);
  }

  /** The slots held for (f, b), strongest first. */
  sorted(f: number, b: number): number[] {
    const fb = f * this.bands + b;
    const n = Math.min(this.k, this.seen[fb]);
    const p = this.pool;
    return Array.from({ length: n }, (_, i) => fb * this.k + i).sort((x, y) => p.value[y] - p.value[x]);
  }
}
