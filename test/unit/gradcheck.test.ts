// Every op of the autograd table (src/autograd/ops.ts) against central finite differences in
// float64 on the ref backend. The table's keys are enumerated: an op without a case here fails
// (and `cases` is typed Record<OpName, ...>, so it also fails to typecheck).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { OPS, type OpName } from "../../src/autograd/ops.ts";
import type { Tape, Var } from "../../src/autograd/tape.ts";
import { awayFromZero, type CheckInput, distinctRows, gradcheck, uniform } from "../helpers/gradcheck.ts";

interface Case {
  label: string;
  inputs: () => CheckInput[];
  build: (t: Tape, xs: Var[]) => Var;
}

const c = (label: string, inputs: () => CheckInput[], build: (t: Tape, xs: Var[]) => Var): Case => ({
  label,
  inputs,
  build,
});

const matmulCases = (batched: boolean): Case[] =>
  [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ].map(([transA, transB]) => {
    const [m, k, n] = [3, 4, 2];
    const g = batched ? [2] : [];
    return c(
      `transA=${transA} transB=${transB}`,
      () => [uniform([...g, ...(transA ? [k, m] : [m, k])], 1), uniform([...g, ...(transB ? [n, k] : [k, n])], 2)],
      (t, [a, b]) => (batched ? t.bmm(a, b, { transA, transB }) : t.matmul(a, b, { transA, transB })),
    );
  });

const x34 = (seed = 11) => uniform([3, 4], seed);

const cases: Record<OpName, Case[]> = {
  matmul: [
    ...matmulCases(false),
    c(
      "x x^T (one input twice)",
      () => [x34()],
      (t, [a]) => t.matmul(a, a, { transB: true }),
    ),
  ],
  bmm: matmulCases(true),
  add: [
    c(
      "[3, 4]",
      () => [x34(1), x34(2)],
      (t, [a, b]) => t.add(a, b),
    ),
    c(
      "x + x",
      () => [x34(1)],
      (t, [a]) => t.add(a, a),
    ),
  ],
  sub: [
    c(
      "[3, 4]",
      () => [x34(1), x34(2)],
      (t, [a, b]) => t.sub(a, b),
    ),
  ],
  mul: [
    c(
      "[3, 4]",
      () => [x34(1), x34(2)],
      (t, [a, b]) => t.mul(a, b),
    ),
    c(
      "x * x",
      () => [x34(1)],
      (t, [a]) => t.mul(a, a),
    ),
  ],
  scale: [
    c(
      "alpha -1.7",
      () => [x34()],
      (t, [a]) => t.scale(a, -1.7),
    ),
  ],
  addScalar: [
    c(
      "c 0.3",
      () => [x34()],
      (t, [a]) => t.addScalar(a, 0.3),
    ),
  ],
  mulScalar: [
    c(
      "s []",
      () => [x34(), uniform([], 3)],
      (t, [a, s]) => t.mulScalar(a, s),
    ),
  ],
  addRowVec: [
    c(
      "[2, 3, 4] + [4]",
      () => [uniform([2, 3, 4], 1), uniform([4], 2)],
      (t, [a, v]) => t.addRowVec(a, v),
    ),
  ],
  subRowVec: [
    c(
      "[3, 4] - [4]",
      () => [x34(), uniform([4], 2)],
      (t, [a, v]) => t.subRowVec(a, v),
    ),
  ],
  mulRowVec: [
    c(
      "[3, 4] * [4]",
      () => [x34(), uniform([4], 2)],
      (t, [a, v]) => t.mulRowVec(a, v),
    ),
  ],
  addColVec: [
    c(
      "[3, 4] + [3]",
      () => [x34(), uniform([3], 2)],
      (t, [a, s]) => t.addColVec(a, s),
    ),
  ],
  subColVec: [
    c(
      "[3, 4] - [3]",
      () => [x34(), uniform([3], 2)],
      (t, [a, s]) => t.subColVec(a, s),
    ),
  ],
  mulColVec: [
    c(
      "[2, 3, 4] * [2, 3]",
      () => [uniform([2, 3, 4], 1), uniform([2, 3], 2)],
      (t, [a, s]) => t.mulColVec(a, s),
    ),
  ],
  divColVec: [
    c(
      "[3, 4] / [3]",
      () => [x34(), awayFromZero([3], 2, 0.5, 2)],
      (t, [a, s]) => t.divColVec(a, s),
    ),
  ],
  sum: [
    c(
      "[3, 4]",
      () => [x34()],
      (t, [a]) => t.sum(a),
    ),
  ],
  mean: [
    c(
      "[3, 4]",
      () => [x34()],
      (t, [a]) => t.mean(a),
    ),
  ],
  sumRows: [
    c(
      "[3, 4]",
      () => [x34()],
      (t, [a]) => t.sumRows(a),
    ),
  ],
  sumCols: [
    c(
      "[3, 4]",
      () => [x34()],
      (t, [a]) => t.sumCols(a),
    ),
  ],
  sumSquares: [
    c(
      "[3, 4]",
      () => [x34()],
      (t, [a]) => t.sumSquares(a),
    ),
  ],
  mse: [
    c(
      "[3, 4]",
      () => [x34(1), x34(2)],
      (t, [a, b]) => t.mse(a, b),
    ),
    c(
      "against a constant",
      () => [x34(1), { ...x34(2), grad: false }],
      (t, [a, b]) => t.mse(a, b),
    ),
  ],
  rowMean: [
    c(
      "[2, 3, 5]",
      () => [uniform([2, 3, 5], 1)],
      (t, [a]) => t.rowMean(a),
    ),
  ],
  rowVar: [
    c(
      "[3, 5]",
      () => [uniform([3, 5], 1, -2, 2)],
      (t, [a]) => t.rowVar(a),
    ),
  ],
  relu: [
    c(
      "|x| >= 0.2",
      () => [awayFromZero([3, 4], 1)],
      (t, [a]) => t.relu(a),
    ),
  ],
  gelu: [
    c(
      "x in [-3, 3]",
      () => [uniform([3, 4], 1, -3, 3)],
      (t, [a]) => t.gelu(a),
    ),
  ],
  softcap: [
    c(
      "cap 2, x in [-4, 4]",
      () => [uniform([3, 4], 1, -4, 4)],
      (t, [a]) => t.softcap(a, 2),
    ),
  ],
  abs: [
    c(
      "|x| >= 0.2",
      () => [awayFromZero([3, 4], 1)],
      (t, [a]) => t.abs(a),
    ),
  ],
  sigmoid: [
    c(
      "x in [-4, 4]",
      () => [uniform([3, 4], 1, -4, 4)],
      (t, [a]) => t.sigmoid(a),
    ),
  ],
  exp: [
    c(
      "x in [-2, 2]",
      () => [uniform([3, 4], 1, -2, 2)],
      (t, [a]) => t.exp(a),
    ),
  ],
  log: [
    c(
      "x in [0.5, 3]",
      () => [uniform([3, 4], 1, 0.5, 3)],
      (t, [a]) => t.log(a),
    ),
  ],
  sqrt: [
    c(
      "x in [0.5, 3]",
      () => [uniform([3, 4], 1, 0.5, 3)],
      (t, [a]) => t.sqrt(a),
    ),
  ],
  layerNorm: [
    c(
      "no affine",
      () => [uniform([3, 5], 1, -2, 2)],
      (t, [a]) => t.layerNorm(a),
    ),
    c(
      "affine",
      () => [uniform([3, 5], 1, -2, 2), uniform([5], 2, 0.5, 1.5), uniform([5], 3)],
      (t, [a, g, b]) => t.layerNorm(a, g, b),
    ),
    c(
      "affine, x constant",
      () => [{ ...uniform([3, 5], 1, -2, 2), grad: false }, uniform([5], 2, 0.5, 1.5), uniform([5], 3)],
      (t, [a, g, b]) => t.layerNorm(a, g, b),
    ),
  ],
  rmsNorm: [
    c(
      "offset 1 (Gemma)",
      () => [uniform([3, 5], 1, -2, 2), uniform([5], 2)],
      (t, [a, w]) => t.rmsNorm(a, w, { offset: 1 }),
    ),
    c(
      "offset 0",
      () => [uniform([3, 5], 1, -2, 2), uniform([5], 2)],
      (t, [a, w]) => t.rmsNorm(a, w),
    ),
    c(
      "x constant",
      () => [{ ...uniform([3, 5], 1, -2, 2), grad: false }, uniform([5], 2)],
      (t, [a, w]) => t.rmsNorm(a, w, { offset: 1 }),
    ),
  ],
  softmax: [
    c(
      "[3, 5]",
      () => [uniform([3, 5], 1, -2, 2)],
      (t, [a]) => t.softmax(a),
    ),
  ],
  causalSoftmax: [
    c(
      "[2, 4, 4]",
      () => [uniform([2, 4, 4], 1, -2, 2)],
      (t, [a]) => t.causalSoftmax(a),
    ),
    c(
      "[5, 5] window 2",
      () => [uniform([5, 5], 1, -2, 2)],
      (t, [a]) => t.causalSoftmax(a, 2),
    ),
  ],
  crossEntropy: [
    c(
      "[4, 5], one ignored row",
      () => [uniform([4, 5], 1, -2, 2)],
      (t, [a]) => t.crossEntropy(a, Int32Array.from([1, -1, 4, 0])),
    ),
    c(
      "all ignored",
      () => [uniform([2, 3], 1)],
      (t, [a]) => t.crossEntropy(a, Int32Array.from([-1, -1])),
    ),
  ],
  topkRows: [
    c(
      "[3, 6] k 2, no near-ties",
      () => [distinctRows(3, 6, 1)],
      (t, [a]) => t.topkRows(a, 2),
    ),
  ],
  embedding: [
    c(
      "[5, 3], repeated id",
      () => [uniform([5, 3], 1)],
      (t, [a]) => t.embedding(a, Int32Array.from([4, 0, 4, 2])),
    ),
  ],
  rope: [
    c(
      "theta 10000",
      () => [uniform([3, 2, 4], 1)],
      (t, [a]) => t.rope(a, Int32Array.from([0, 5, 2]), 10000),
    ),
    c(
      "theta 10",
      () => [uniform([2, 3, 6], 1)],
      (t, [a]) => t.rope(a, Int32Array.from([7, 3]), 10),
    ),
  ],
  reshape: [
    c(
      "[3, 4] -> [2, -1]",
      () => [x34()],
      (t, [a]) => t.reshape(a, [2, -1]),
    ),
  ],
  transpose: [
    c(
      "[3, 4]",
      () => [x34()],
      (t, [a]) => t.transpose(a),
    ),
  ],
  swapAxes01: [
    c(
      "[2, 3, 4]",
      () => [uniform([2, 3, 4], 1)],
      (t, [a]) => t.swapAxes01(a),
    ),
  ],
  sliceFirst: [
    c(
      "[4, 3][1:3]",
      () => [uniform([4, 3], 1)],
      (t, [a]) => t.sliceFirst(a, 1, 3),
    ),
  ],
  sliceLast: [
    c(
      "[3, 5][:, 1:4]",
      () => [uniform([3, 5], 1)],
      (t, [a]) => t.sliceLast(a, 1, 4),
    ),
  ],
  concatFirst: [
    c(
      "[2, 3] [1, 3] and the first again",
      () => [uniform([2, 3], 1), uniform([1, 3], 2)],
      (t, [a, b]) => t.concatFirst([a, b, a]),
    ),
  ],
  concatLast: [
    c(
      "[3, 2] [3, 1] [3, 2]",
      () => [uniform([3, 2], 1), uniform([3, 1], 2)],
      (t, [a, b]) => t.concatLast([a, b, a]),
    ),
  ],
};

describe("gradcheck: every op of the autograd table", () => {
  test("every op in the table has at least one gradient check", () => {
    const missing = Object.keys(OPS).filter((name) => !(cases as Record<string, Case[]>)[name]?.length);
    assert.deepEqual(missing, [], `ops without a gradient check: ${missing.join(", ")}`);
  });

  for (const name of Object.keys(cases) as OpName[]) {
    for (const cs of cases[name]) {
      test(`${name}: ${cs.label}`, () => {
        const { ops, maxError } = gradcheck(cs.build, cs.inputs(), { tol: 1e-7 });
        assert.ok(ops.includes(name), `the case for ${name} records ${ops.join(", ")}`);
        assert.ok(Number.isFinite(maxError));
      });
    }
  }
});
