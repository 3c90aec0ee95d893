/**
 * Golden test of the LM runtime: the tiny fixtures of test/golden/lm/ (made by
 * tools/golden/make_lm_fixtures.py) run through loadModel + run() on every backend, and logits and
 * EVERY hook activation are compared with the independent float64 PyTorch reference
 * (tools/golden/lm_reference.py) at 1e-4 absolute. Also: splices (zero-ablation, scaling) against
 * the reference's spliced logits, early stop without logits, batch-row independence, workspace
 * reuse, and native vs ref agreement on the same fixture.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Backend } from "../../src/core/backend.ts";
import { nativeBackend, refBackend } from "../../src/core/backends/index.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { parseHookName, type SpliceFn } from "../../src/lm/hooks.ts";
import { loadModel } from "../../src/lm/loader.ts";

const ROOT = join(import.meta.dirname, "lm");
const FIXTURES = ["gemma2-old", "gemma2-new", "gpt2"];
const TOL = 1e-4;

function tryNative(): Backend | null {
  try {
    const be = nativeBackend();
    if (!be) return null;
    be.gemm(false, false, 1, 1, 1, 1, new Float32Array([1]), 1, new Float32Array([1]), 1, 0, new Float32Array(1), 1);
    return be;
  } catch {
    return null;
  }
}

const native = tryNative();
const BACKENDS: [string, Backend | null][] = [
  ["ref", refBackend],
  ["native", native],
];

interface Inputs {
  input_ids: number[][];
  splice: Record<string, string>;
}

function readInputs(fx: string): Inputs {
  return JSON.parse(readFileSync(join(ROOT, fx, "inputs.json"), "utf8")) as Inputs;
}

function expected(fx: string): SafetensorsFile {
  return SafetensorsFile.open(join(ROOT, fx, "expected.safetensors"));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "lengths differ");
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = TOL): void {
  const d = maxAbsDiff(got, want);
  assert.ok(d <= tol, `${what}: max |diff| ${d.toExponential(3)} > ${tol}`);
}

/** The splice functions of inputs.json: "zero" or "scale:<s>", in place. */
function splices(spec: Record<string, string>): Record<string, SpliceFn> {
  const out: Record<string, SpliceFn> = {};
  for (const [hook, what] of Object.entries(spec)) {
    if (what === "zero") out[hook] = (act) => act.fill(0);
    else {
      const s = Number(what.split(":")[1]);
      out[hook] = (act) => {
        for (let i = 0; i < act.length; i++) act[i] *= s;
      };
    }
  }
  return out;
}

for (const [beName, be] of BACKENDS) {
  describe(`LM golden forward on ${beName}`, { skip: be ? false : "native backend not available" }, () => {
    for (const fx of FIXTURES) {
      test(`${fx}: logits and every hook match the PyTorch reference`, () => {
        const model = loadModel(join(ROOT, fx), { backend: be! });
        const inp = readInputs(fx);
        const exp = expected(fx);
        const hooks = model.hookNames();
        assert.equal(hooks.length, 4 * model.dims.nLayers);
        const r = model.run(inp.input_ids, { capture: hooks });
        const [B, T] = [inp.input_ids.length, inp.input_ids[0].length];
        assert.deepEqual(r.logits!.shape, [B, T, model.dims.vocabSize]);
        assertClose(r.logits!.data, exp.readF32("logits"), "logits");
        for (const h of hooks) {
          assert.deepEqual(r.cache[h].shape, [B, T, model.dims.dModel]);
          assertClose(r.cache[h].data, exp.readF32(h), h);
        }
        exp.close();
      });

      test(`${fx}: splices match the reference's spliced logits`, () => {
        const model = loadModel(join(ROOT, fx), { backend: be!, tokenizer: false });
        const inp = readInputs(fx);
        const exp = expected(fx);
        const r = model.run(inp.input_ids, { splice: splices(inp.splice) });
        assertClose(r.logits!.data, exp.readF32("logits_spliced"), "spliced logits");
        // and the clean run afterwards is clean again (the splice does not leak into the workspace)
        assertClose(model.run(inp.input_ids).logits!.data, exp.readF32("logits"), "clean logits after splice");
        exp.close();
      });

      test(`${fx}: a forward started at a block from the spliced stream matches the reference's spliced logits`, () => {
        const model = loadModel(join(ROOT, fx), { backend: be!, tokenizer: false });
        const inp = readInputs(fx);
        const exp = expected(fx);
        const fns = splices(inp.splice);
        // The residual-stream splice of inputs.json starts the forward; the others are upstream of it.
        const resid = Object.keys(fns).find((h) => /hook_resid_(pre|post)$/.test(h))!;
        const { layer, kind } = parseHookName(resid, model.dims.nLayers);
        const start = kind === "resid_pre" ? layer : layer + 1;
        const upstream = Object.fromEntries(Object.entries(fns).filter(([h]) => h !== resid));
        const B = inp.input_ids.length;
        const T = inp.input_ids[0].length;
        const head = model.run(inp.input_ids, { splice: upstream, capture: [resid], logits: false, copy: true });
        const stream = head.cache[resid].data;
        fns[resid](stream, B * T, model.dims.dModel);
        const ids = Int32Array.from(inp.input_ids.flat());
        const r = model.run(ids, { batch: B, start: { layer: start, resid: stream } });
        assertClose(r.logits!.data, exp.readF32("logits_spliced"), "started logits");
        assert.throws(
          () => model.run(ids, { batch: B, start: { layer: start, resid: stream }, splice: upstream }),
          /upstream of the start layer/,
        );
        assert.throws(
          () => model.run(ids, { batch: B, start: { layer: start, resid: stream.subarray(1) } }),
          /start residual/,
        );
        exp.close();
      });

      test(`${fx}: early stop, single rows and workspace reuse`, () => {
        const model = loadModel(join(ROOT, fx), { backend: be!, tokenizer: false });
        const inp = readInputs(fx);
        const exp = expected(fx);
        const T = inp.input_ids[0].length;
        const d = model.dims.dModel;
        // stop after block 0: no logits, the captured hook still exact
        const early = model.run(inp.input_ids, { capture: ["blocks.0.hook_resid_post"], logits: false });
        assert.equal(early.logits, null);
        assertClose(
          early.cache["blocks.0.hook_resid_post"].data,
          exp.readF32("blocks.0.hook_resid_post"),
          "early stop",
        );
        // each row alone (batch 1, a new workspace) equals its slice of the batch-2 golden
        const logits = exp.readF32("logits");
        const V = model.dims.vocabSize;
        const last = `blocks.${model.dims.nLayers - 1}.hook_resid_post`;
        const lastExp = exp.readF32(last);
        for (let b = 0; b < 2; b++) {
          const r = model.run([inp.input_ids[b]], { capture: [last], copy: true });
          assertClose(r.logits!.data, logits.subarray(b * T * V, (b + 1) * T * V), `row ${b} logits`);
          assertClose(r.cache[last].data, lastExp.subarray(b * T * d, (b + 1) * T * d), `row ${b} ${last}`);
        }
        // copy: true results survive a later run; default results are the reused workspace
        const kept = model.run(inp.input_ids, { copy: true }).logits!;
        const shared = model.run(inp.input_ids).logits!;
        model.run(inp.input_ids.map((row) => row.map((id) => (id + 1) % V)));
        assertClose(kept.data, logits, "copied logits after another run");
        assert.ok(maxAbsDiff(shared.data, logits) > 1e-3, "workspace logits are reused by the next run");
        exp.close();
      });
    }
  });
}

describe("LM native vs ref", { skip: native ? false : "native backend not available" }, () => {
  for (const fx of FIXTURES) {
    test(`${fx}: the two backends agree on logits and hooks`, () => {
      const inp = readInputs(fx);
      const a = loadModel(join(ROOT, fx), { backend: native!, tokenizer: false });
      const b = loadModel(join(ROOT, fx), { backend: refBackend, tokenizer: false });
      const hooks = a.hookNames();
      const ra = a.run(inp.input_ids, { capture: hooks });
      const rb = b.run(inp.input_ids, { capture: hooks });
      assertClose(ra.logits!.data, rb.logits!.data, "logits", 2e-5);
      for (const h of hooks) assertClose(ra.cache[h].data, rb.cache[h].data, h, 2e-5);
    });
  }
});
