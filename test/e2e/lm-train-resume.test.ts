/**
 * `msae lm train` end to end on a tiny config (every Gemma-2 feature on, tokenizer trained on the
 * data, gradient accumulation): an interrupted run resumed with --resume ends bit-identical to an
 * uninterrupted one (weights, per-step losses, validation losses), also after a kill that left log
 * lines past its last checkpoint; a resume with another config is refused. Then the CLI: `lm eval
 * --json` (shape, and the loss against a float64 cross-entropy computed here from the model's
 * logits) and `lm generate` (same seed, same text; temperature 0 = a greedy loop written here).
 */
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Command } from "commander";
import { register } from "../../src/cli/lm.ts";
import { brownDocument } from "../../src/data/brown.ts";
import { readJsonl } from "../../src/io/jsonl.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { type TensorToWrite, writeSafetensorsSync } from "../../src/io/safetensors-write.ts";
import { loadModel } from "../../src/lm/loader.ts";
import { parseLmTrainConfig } from "../../src/lm/train/config.ts";
import { trainLm } from "../../src/lm/train/trainer.ts";
import { loadTokenizer } from "../../src/tokenizer/load.ts";

let dir = "";
let corpus = "";
const quiet = () => {};

const CONFIG = {
  model: {
    hidden_size: 16,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 8,
    intermediate_size: 32,
    context_length: 16,
    sliding_window: 6,
    attn_logit_softcapping: 5,
    final_logit_softcapping: 8,
  },
  tokenizer: { vocab_size: 300 },
  training: {
    seed: 3,
    batch_size: 4,
    grad_accum: 2,
    steps: 12,
    lr: 1e-2,
    min_lr: 1e-3,
    warmup_steps: 3,
    eval_interval: 4,
    eval_contexts: 8,
    checkpoint_interval: 4,
  },
};

function run(out: string, extra: { resume?: boolean; stopAfter?: number; config?: unknown } = {}) {
  return trainLm({
    config: parseLmTrainConfig(extra.config ?? CONFIG),
    data: corpus,
    out,
    resume: extra.resume,
    stopAfter: extra.stopAfter,
    log: quiet,
    tty: false,
  });
}

/** The log without its timing fields. */
function curve(out: string): unknown[] {
  return readJsonl(join(out, "train_log.jsonl")).records.map((r) => {
    const { tokens_per_s: _t, elapsed_s: _e, ...rest } = r as Record<string, number>;
    return rest;
  });
}

async function cli(args: string[]): Promise<string> {
  const program = new Command();
  program.exitOverride();
  register(program);
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((c: string | Uint8Array) => {
    chunks.push(typeof c === "string" ? c : Buffer.from(c).toString("utf8"));
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(["node", "msae", ...args]);
  } finally {
    process.stdout.write = write;
  }
  return chunks.join("");
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "msae-lm-train-"));
  corpus = join(dir, "corpus.txt");
  writeFileSync(corpus, `${brownDocument("ca01")}\n\n${brownDocument("cb02")}`);
  const full = await run(join(dir, "full"));
  assert.equal(full.step, 12);
  assert.equal(full.stopped, false);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test("stopped at step 6 and resumed: bit-identical weights and curve", async () => {
  const out = join(dir, "resumed");
  const first = await run(out, { stopAfter: 6 });
  assert.equal(first.step, 6);
  assert.equal(first.stopped, true);
  const second = await run(out, { resume: true });
  assert.equal(second.step, 12);
  const a = readFileSync(join(dir, "full", "model.safetensors"));
  const b = readFileSync(join(out, "model.safetensors"));
  assert.ok(a.equals(b), "model.safetensors differs from the uninterrupted run");
  assert.deepEqual(curve(out), curve(join(dir, "full")));
  const losses = curve(out) as { loss: number; val_loss?: number }[];
  assert.equal(losses.length, 12);
  assert.equal(losses.filter((r) => r.val_loss !== undefined).length, 3, "validation at steps 4, 8, 12");
  assert.ok(losses[11].loss < losses[0].loss, "the loss went down");
});

test("killed after its step-4 checkpoint (log lines past it, a torn last line): resume still matches", async () => {
  const out = join(dir, "killed");
  await run(out, { stopAfter: 4 });
  const log = join(out, "train_log.jsonl");
  appendFileSync(log, '{"step":5,"loss":1}\n{"step":6,"loss":2}\n{"step":7,"lo');
  await run(out, { resume: true });
  assert.ok(readFileSync(join(dir, "full", "model.safetensors")).equals(readFileSync(join(out, "model.safetensors"))));
  assert.deepEqual(curve(out), curve(join(dir, "full")));
});

test("refuses to resume with another config, and to overwrite a run without --resume", async () => {
  const out = join(dir, "resumed");
  const other = { ...CONFIG, training: { ...CONFIG.training, lr: 2e-2 } };
  await assert.rejects(
    run(out, { resume: true, config: other }),
    /made with training\.lr = 0\.01 but this run has 0\.02/,
  );
  await assert.rejects(run(out), /already holds a training run/);
});

test("lm eval --json: shape, and the loss of the model's logits computed here in float64", async () => {
  const model = join(dir, "full");
  const text = await cli(["lm", "eval", "--model", model, "--data", corpus, "--train-data", corpus, "--json"]);
  const r = JSON.parse(text);
  for (const key of ["tokens", "loss", "ppl", "unigram_loss", "bigram_loss"])
    assert.equal(typeof r[key], "number", `${key} is a number`);
  assert.ok(Math.abs(r.ppl - Math.exp(r.loss)) < 1e-9 * r.ppl);
  // independent: pack the corpus here, score next tokens that are not BOS, last position excluded
  const lm = loadModel(model);
  const tok = loadTokenizer(join(model, "tokenizer.json"));
  const T = 16;
  const stream = Array.from(tok.encode(readFileSync(corpus, "utf8")));
  const bos = tok.bosId!;
  let sum = 0;
  let n = 0;
  // one document: contexts are BOS + 15 tokens each (the packing of data/packing.ts, checked elsewhere)
  for (let start = 0; start + (T - 1) <= stream.length; start += T - 1) {
    const ids = [bos, ...stream.slice(start, start + T - 1)];
    const logits = lm.run([ids]).logits!.data;
    const V = lm.dims.vocabSize;
    for (let t = 0; t < T - 1; t++) {
      const w = ids[t + 1];
      if (w === bos) continue;
      let mx = Number.NEGATIVE_INFINITY;
      for (let v = 0; v < V; v++) mx = Math.max(mx, logits[t * V + v]);
      let z = 0;
      for (let v = 0; v < V; v++) z += Math.exp(logits[t * V + v] - mx);
      sum += Math.log(z) + mx - logits[t * V + w];
      n++;
    }
  }
  assert.equal(r.tokens, n);
  assert.ok(Math.abs(r.loss - sum / n) < 1e-5, `loss ${r.loss} vs ${sum / n}`);
  assert.ok(r.bigram_loss < r.unigram_loss, "bigrams beat unigrams on their own training text");
});

test("lm generate: the same seed gives the same text; temperature 0 is a greedy loop", async () => {
  const model = join(dir, "full");
  const args = ["lm", "generate", "--model", model, "--prompt", "The jury", "--max-tokens", "12"];
  const a = await cli([...args, "--seed", "7"]);
  const b = await cli([...args, "--seed", "7"]);
  assert.equal(a, b);
  assert.ok(a.startsWith("The jury"));
  const greedy = await cli([...args, "--temperature", "0"]);
  const lm = loadModel(model);
  const tok = lm.tokenizer!;
  const ctx = [lm.info.bosId!, ...Array.from(tok.encode("The jury"))];
  const out: number[] = [];
  for (let i = 0; i < 12; i++) {
    const win = ctx.length <= 16 ? ctx : [ctx[0], ...ctx.slice(-15)];
    const logits = lm.run([win]).logits!.data;
    const V = lm.dims.vocabSize;
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[(win.length - 1) * V + v] > logits[(win.length - 1) * V + best]) best = v;
    if (best === lm.info.bosId || best === lm.info.eosId) break;
    ctx.push(best);
    out.push(best);
  }
  assert.equal(greedy, `The jury${tok.decode(out)}\n`);
});

test("a checkpoint holding NaN is refused on --resume (one line naming the tensor), never trained on", async () => {
  const out = join(dir, "nan-ckpt");
  await run(out, { stopAfter: 2 });
  const ckpt = join(out, "checkpoint", "checkpoint.safetensors");
  const f = SafetensorsFile.open(ckpt);
  const tensors = new Map<string, TensorToWrite>();
  for (const n of f.names()) tensors.set(n, { ...f.info(n), data: f.read(n) });
  const meta = { ...f.metadata };
  f.close();
  const name = "adam_v/model.norm.weight";
  const v = Float32Array.from(tensors.get(name)!.data as Float32Array);
  v[5] = Number.NaN;
  tensors.set(name, { ...tensors.get(name)!, data: v });
  writeSafetensorsSync(ckpt, tensors, meta);
  await assert.rejects(run(out, { resume: true }), (e: Error) => {
    assert.match(e.message, /tensor "adam_v\/model\.norm\.weight" has NaN at index 5 of 16 values/);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
});
