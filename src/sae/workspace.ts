/**
 * Per-rows workspaces for hand-written forward/backward passes (llm.c style): buffers of `width`
 * entries per row, preallocated on first use and reused across steps.
 */
import type { FloatArray } from "../core/backend.ts";

/**
 * Buffers of `width` entries per row, grown (never shrunk) to the largest rows seen; `at(rows)`
 * returns views of exactly rows * width entries (the ref backend checks exact lengths). Views are
 * cached for the last rows, so a steady training loop allocates nothing.
 */
export class RowWorkspace<K extends string, T extends FloatArray | Int32Array> {
  private capacity = 0;
  private current = -1;
  private readonly store = {} as Record<K, T>;
  private readonly view = {} as Record<K, T>;
  private readonly make: (n: number) => T;
  private readonly widths: Readonly<Record<K, number>>;

  constructor(make: (n: number) => T, widths: Readonly<Record<K, number>>) {
    this.make = make;
    this.widths = widths;
  }

  at(rows: number): Readonly<Record<K, T>> {
    if (rows === this.current) return this.view;
    const keys = Object.keys(this.widths) as K[];
    if (rows > this.capacity) {
      for (const k of keys) this.store[k] = this.make(rows * this.widths[k]);
      this.capacity = rows;
    }
    for (const k of keys) this.view[k] = this.store[k].subarray(0, rows * this.widths[k]) as T;
    this.current = rows;
    return this.view;
  }
}
