/**
 * Native vs ref parity, part 2: softmax (plain, backward, causal with windows), cross-entropy
 * (ignored targets, vocab 8192), TopK (ties, k = 1 and k = cols), embeddings, RoPE (inverse) and
 * AdamW (weight decay 0 and not), with in-place aliasing where backend.ts allows it.
 * Tolerance and its justification: parity-util.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Backend } from "../../src/core/backend.ts";
import {
  assertClose,
  assertExact,
  assertZerosMatch,
  type IO,
  LENGTHS,
  native,
  normal,
  parity,
  parity2,
  Rng,
  SHAPES,
  skip,
  uniform,
} from "./parity-util.ts";

type F = Float32Array;
const f = (io: IO, k: string) => io[k] as F;
const i32 = (io: IO, k: string) => io[k] as Int32Array;

describe("parity: softmax family", { skip }, () => {
  const rng = new Rng(21);

  test("softmax and softmaxBackward (and in place)", () => {
    for (const [rows, cols] of [...SHAPES, [3, 8192] as [number, number]]) {
      const L = `${rows}x${cols}`;
      const io: IO = { x: normal(rng, rows * cols, 4), out: new Float32Array(rows * cols) };
      const fwd = (B: Backend, v: IO, o: string) => B.softmax(f(v, "x"), rows, cols, f(v, o));
      const { refIO } = parity(`softmax ${L}`, io, (B, v) => fwd(B, v, "out"), ["out"]);
      parity2(
        `softmax in place ${L}`,
        io,
        (B, v) => fwd(B, v, "out"),
        (B, v) => fwd(B, v, "x"),
        [["out", "x"]],
      );
      const bio: IO = { y: refIO.out, dy: normal(rng, rows * cols), dx: new Float32Array(rows * cols) };
      const back = (B: Backend, v: IO, o: string) => B.softmaxBackward(f(v, "y"), f(v, "dy"), rows, cols, f(v, o));
      parity(`softmaxBackward ${L}`, bio, (B, v) => back(B, v, "dx"), ["dx"]);
      parity2(
        `softmaxBackward dx=dy ${L}`,
        bio,
        (B, v) => back(B, v, "dx"),
        (B, v) => back(B, v, "dy"),
        [["dx", "dy"]],
      );
    }
  });

  test("causalSoftmax: window 0 / -1 (unlimited), 1, 3, t; masked entries exactly 0; in place", () => {
    for (const [groups, t] of [
      [1, 1],
      [2, 7],
      [3, 33],
      [2, 129],
    ]) {
      for (const window of [0, -1, 1, 3, t]) {
        const L = `groups=${groups} t=${t} window=${window}`;
        const io: IO = { x: normal(rng, groups * t * t, 3), out: normal(rng, groups * t * t) };
        const run = (B: Backend, v: IO, o: string) => B.causalSoftmax(f(v, "x"), groups, t, window, f(v, o));
        const r = parity(`causalSoftmax ${L}`, io, (B, v) => run(B, v, "out"), ["out"]);
        assertZerosMatch(`causalSoftmax ${L}`, r.nativeIO.out as F, r.refIO.out as F);
        const p = parity2(
          `causalSoftmax in place ${L}`,
          io,
          (B, v) => run(B, v, "out"),
          (B, v) => run(B, v, "x"),
          [["out", "x"]],
        );
        assertZerosMatch(`causalSoftmax in place ${L}`, p.nativeIO.x as F, p.refIO.out as F);
      }
    }
  });

  test("crossEntropy and backward: ignored targets, vocab up to 8192, in place", () => {
    for (const [rows, vocab] of [
      [1, 1],
      [7, 129],
      [33, 1000],
      [4, 8192],
      [5, 7],
    ]) {
      const L = `${rows}x${vocab}`;
      const targets = new Int32Array(rows);
      for (let r = 0; r < rows; r++) targets[r] = r % 3 === 1 ? -1 : rng.int(vocab);
      const io: IO = {
        logits: normal(rng, rows * vocab, 3),
        targets,
        losses: normal(rng, rows),
        dloss: uniform(rng, rows, 0.1, 2),
        dlogits: normal(rng, rows * vocab),
      };
      const fwd = (B: Backend, v: IO) => B.crossEntropy(f(v, "logits"), i32(v, "targets"), rows, vocab, f(v, "losses"));
      const r = parity(`crossEntropy ${L}`, io, fwd, ["losses"]);
      const kept = targets.filter((t) => t !== -1).length;
      assert.equal(r.native, kept, `crossEntropy ${L}: count`);
      assert.equal(r.ref, kept);
      assertZerosMatch(`crossEntropy ${L} ignored rows`, r.nativeIO.losses as F, r.refIO.losses as F);
      const back = (B: Backend, v: IO, o: string) =>
        B.crossEntropyBackward(f(v, "logits"), i32(v, "targets"), f(v, "dloss"), rows, vocab, f(v, o));
      const b = parity(`crossEntropyBackward ${L}`, io, (B, v) => back(B, v, "dlogits"), ["dlogits"]);
      assertZerosMatch(`crossEntropyBackward ${L} ignored rows`, b.nativeIO.dlogits as F, b.refIO.dlogits as F);
      parity2(
        `crossEntropyBackward in place ${L}`,
        io,
        (B, v) => back(B, v, "dlogits"),
        (B, v) => back(B, v, "logits"),
        [["dlogits", "logits"]],
      );
    }
  });
});

describe("native: softmax / cross-entropy closed forms (tighter than the parity tolerance)", { skip }, () => {
  test("a row of zeros but one entry a: softmax and loss in closed form", () => {
    // logits = a e_j over vocab V: softmax_j = e^a / (e^a + V - 1), loss(target j) = log(e^a + V - 1) - a,
    // loss(target != j) = log(e^a + V - 1). Worked out here in float64, checked to 1e-6 relative.
    for (const [V, a] of [
      [8192, 2],
      [8192, 0],
      [1000, -7.5],
      [7, 30],
    ]) {
      const rows = 2;
      const logits = new Float32Array(rows * V);
      logits[3] = a;
      logits[V + 3] = a;
      const losses = new Float32Array(rows);
      native.crossEntropy(logits, Int32Array.of(3, 0), rows, V, losses);
      const lse = Math.log(Math.exp(a) + V - 1);
      assert.ok(
        Math.abs(losses[0] - (lse - a)) <= 1e-6 * Math.max(1, Math.abs(lse - a)),
        `V=${V} a=${a}: ${losses[0]} vs ${lse - a}`,
      );
      assert.ok(Math.abs(losses[1] - lse) <= 1e-6 * Math.abs(lse), `V=${V} a=${a}: ${losses[1]} vs ${lse}`);
      const y = new Float32Array(rows * V);
      native.softmax(logits, rows, V, y);
      const pj = Math.exp(a) / (Math.exp(a) + V - 1);
      const po = 1 / (Math.exp(a) + V - 1);
      assert.ok(Math.abs(y[3] - pj) <= 1e-6 * pj && Math.abs(y[5] - po) <= 1e-6 * po, `softmax V=${V} a=${a}`);
    }
  });
});

describe("parity: topk", { skip }, () => {
  const rng = new Rng(22);

  /** Rows of distinct values (a shuffled ramp), so the selected set is unambiguous. */
  function distinctRows(rows: number, cols: number): F {
    const x = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const perm = Array.from({ length: cols }, (_, i) => i);
      for (let i = cols - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [perm[i], perm[j]] = [perm[j], perm[i]];
      }
      for (let c = 0; c < cols; c++) x[r * cols + c] = (perm[c] - cols / 2) * 0.37;
    }
    return x;
  }

  test("topkRows and backward: k = 0, 1, 7, cols; idx exact; in place", () => {
    for (const [rows, cols] of [...SHAPES, [64, 4096] as [number, number]]) {
      for (const k of [...new Set([0, 1, Math.min(7, cols), cols])]) {
        const L = `${rows}x${cols} k=${k}`;
        const io: IO = { x: distinctRows(rows, cols), out: normal(rng, rows * cols), idx: new Int32Array(rows * k) };
        const run = (B: Backend, v: IO, o: string) => B.topkRows(f(v, "x"), rows, cols, k, f(v, o), i32(v, "idx"));
        const r = parity(`topkRows ${L}`, io, (B, v) => run(B, v, "out"), ["out", "idx"]);
        assertExact(`topkRows ${L} out`, r.nativeIO.out as F, r.refIO.out as F);
        const p = parity2(
          `topkRows in place ${L}`,
          io,
          (B, v) => run(B, v, "out"),
          (B, v) => run(B, v, "x"),
          [["idx", "idx"]],
        );
        assertExact(`topkRows in place ${L} out`, p.nativeIO.x as F, r.refIO.out as F);
        const bio: IO = { dy: normal(rng, rows * cols), idx: r.refIO.idx, dx: normal(rng, rows * cols) };
        const back = (B: Backend, v: IO, o: string) =>
          B.topkRowsBackward(f(v, "dy"), i32(v, "idx"), rows, cols, k, f(v, o));
        const b = parity(`topkRowsBackward ${L}`, bio, (B, v) => back(B, v, "dx"), ["dx"]);
        assertExact(`topkRowsBackward ${L}`, b.nativeIO.dx as F, b.refIO.dx as F);
        const q = parity2(
          `topkRowsBackward dx=dy ${L}`,
          bio,
          (B, v) => back(B, v, "dx"),
          (B, v) => back(B, v, "dy"),
          [],
        );
        assertExact(`topkRowsBackward dx=dy ${L}`, q.nativeIO.dy as F, b.refIO.dx as F);
      }
    }
  });

  test("ties are broken by the lower index (hand-checked, and against ref)", () => {
    // Row 0: four 3s; k = 3 keeps columns 1, 2, 4. Row 1: all equal; k = 3 keeps 0, 1, 2.
    // Row 2: -0 and 0 compare equal: k = 2 keeps 5 (the 5) and then column 0 (the first zero).
    const cols = 7;
    const x = Float32Array.from([1, 3, 3, 2, 3, 3, 0, 2, 2, 2, 2, 2, 2, 2, -0, 0, 0, -1, -2, 5, -3]);
    const expect = [
      [1, 2, 4],
      [0, 1, 2],
    ];
    const out = new Float32Array(3 * cols);
    const idx = new Int32Array(2 * 3);
    native.topkRows(x.subarray(0, 14), 2, cols, 3, out.subarray(0, 14), idx);
    assert.deepEqual(Array.from(idx), expect.flat());
    assert.deepEqual(Array.from(out.subarray(0, 7)), [0, 3, 3, 0, 3, 0, 0]);
    const idx2 = new Int32Array(2);
    native.topkRows(x.subarray(14), 1, cols, 2, out.subarray(14), idx2);
    assert.deepEqual(Array.from(idx2), [5, 0]);
    assert.ok(Object.is(out[14], -0), "the kept -0 keeps its sign");
    parity(
      "topkRows ties",
      { x, out: new Float32Array(21), idx: new Int32Array(9) },
      (B, v) => B.topkRows(f(v, "x"), 3, cols, 3, f(v, "out"), i32(v, "idx")),
      ["out", "idx"],
    );
  });

  test("massive ties and -inf in long rows (the block-threshold path) match ref exactly", () => {
    const rows = 6;
    const cols = 4096;
    const x = new Float32Array(rows * cols);
    for (let i = 0; i < x.length; i++) x[i] = Math.floor(rng.next() * 8); // 8 distinct values: ties everywhere
    x.fill(Number.NEGATIVE_INFINITY, 4 * cols, 5 * cols); // row 4: all -inf but three numbers
    x[4 * cols + 100] = 1;
    x[4 * cols + 7] = -5;
    x[4 * cols + 4000] = 1;
    x.fill(Number.NEGATIVE_INFINITY, 5 * cols, 6 * cols); // row 5: only -inf
    for (const k of [1, 20, 300]) {
      const r = parity(
        `topkRows ties k=${k}`,
        { x, out: new Float32Array(rows * cols), idx: new Int32Array(rows * k) },
        (B, v) => B.topkRows(f(v, "x"), rows, cols, k, f(v, "out"), i32(v, "idx")),
        ["idx"],
      );
      assertExact(`topkRows ties k=${k} out`, r.nativeIO.out as F, r.refIO.out as F);
    }
  });
});

describe("parity: embeddings, rope, adamw", { skip }, () => {
  const rng = new Rng(23);

  test("embeddingGather (exact) and embeddingScatterAdd with repeated ids", () => {
    for (const [vocab, dim] of [
      [1, 1],
      [7, 129],
      [1000, 7],
      [50, 300],
    ]) {
      for (const n of [0, 1, 9, 257]) {
        const L = `vocab=${vocab} dim=${dim} n=${n}`;
        const ids = Int32Array.from({ length: n }, () => rng.int(Math.min(vocab, 5))); // few ids: many repeats
        const io: IO = { table: normal(rng, vocab * dim), ids, out: normal(rng, n * dim), dout: normal(rng, n * dim) };
        const g = parity(
          `embeddingGather ${L}`,
          io,
          (B, v) => B.embeddingGather(f(v, "table"), i32(v, "ids"), vocab, dim, f(v, "out")),
          ["out"],
        );
        assertExact(`embeddingGather ${L}`, g.nativeIO.out as F, g.refIO.out as F);
        parity(
          `embeddingScatterAdd ${L}`,
          io,
          (B, v) => B.embeddingScatterAdd(f(v, "dout"), i32(v, "ids"), vocab, dim, f(v, "table")),
          ["table"],
        );
      }
    }
  });

  test("rope forward and inverse, in place, and inverse(rope(x)) = x", () => {
    for (const [n, heads, headDim] of [
      [1, 1, 2],
      [7, 3, 8],
      [129, 4, 64],
      [33, 2, 256],
    ]) {
      const positions = Int32Array.from({ length: n }, () => rng.int(4096));
      for (const inverse of [false, true]) {
        const L = `n=${n} heads=${heads} headDim=${headDim} inverse=${inverse}`;
        const io: IO = { x: normal(rng, n * heads * headDim), positions, out: new Float32Array(n * heads * headDim) };
        const run = (B: Backend, v: IO, o: string) =>
          B.rope(f(v, "x"), i32(v, "positions"), n, heads, headDim, 10000, inverse, f(v, o));
        parity(`rope ${L}`, io, (B, v) => run(B, v, "out"), ["out"]);
        parity2(
          `rope in place ${L}`,
          io,
          (B, v) => run(B, v, "out"),
          (B, v) => run(B, v, "x"),
          [["out", "x"]],
        );
      }
      const x = normal(rng, n * heads * headDim);
      const y = x.slice();
      native.rope(y, positions, n, heads, headDim, 10000, false, y);
      native.rope(y, positions, n, heads, headDim, 10000, true, y);
      assertClose(`rope roundtrip n=${n}`, y, x);
    }
  });

  test("adamw: weight decay 0 and 0.1, step 1 and 1000", () => {
    for (const n of LENGTHS) {
      for (const wd of [0, 0.1]) {
        for (const step of [1, 1000]) {
          const L = `n=${n} wd=${wd} step=${step}`;
          const io: IO = {
            p: normal(rng, n),
            g: normal(rng, n, 0.1),
            m: normal(rng, n, 0.01),
            v: uniform(rng, n, 0, 1e-3),
          };
          parity(
            `adamw ${L}`,
            io,
            (B, v) => B.adamw(f(v, "p"), f(v, "g"), f(v, "m"), f(v, "v"), 1e-3, 0.9, 0.999, 1e-8, wd, step),
            ["p", "m", "v"],
          );
          // With |p| ~ 1e-3 the float32 p resolves the ~1e-3 update to ~1e-7 relative, so the
          // tolerance above now bounds the update itself (bias corrections, decay, eps) at ~1e-4.
          const small: IO = { ...io, p: normal(rng, n, 1e-3) };
          parity(
            `adamw small p ${L}`,
            small,
            (B, v) => B.adamw(f(v, "p"), f(v, "g"), f(v, "m"), f(v, "v"), 1e-3, 0.9, 0.999, 1e-8, wd, step),
            ["p"],
          );
        }
      }
    }
  });
});
