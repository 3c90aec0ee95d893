/**
 * Nothing loads silently wrong (issue 13): each class of corrupt model folder that used to load
 * with exit 0 (NaN / Inf weights, an integer dtype on a norm weight, special ids outside the
 * vocabulary or disagreeing with tokenizer.json, model_type contradicting architectures, a
 * tokenizer.json whose declared model type contradicts its contents, an unfinished run folder) is
 * now refused with ONE line naming the problem; inspect reports each and exits 1. Made from copies
 * of the golden fixtures in a temp dir; the expected tensor / index come from the edit made here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { getBackend, refBackend } from "../../src/core/backends/index.ts";
import { markComplete, markIncomplete } from "../../src/io/complete.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { type TensorToWrite, writeSafetensorsSync } from "../../src/io/safetensors-write.ts";
import { describePath, hasProblem } from "../../src/lm/describe.ts";
import { loadModel } from "../../src/lm/loader.ts";
import { loadTokenizer } from "../../src/tokenizer/load.ts";

const ROOT = join(import.meta.dirname, "lm");
const tmp = mkdtempSync(join(tmpdir(), "msae-lm-strict-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
function copyFixture(name: string): string {
  const dir = join(tmp, `${name}-${counter++}`);
  cpSync(join(ROOT, name), dir, { recursive: true });
  return dir;
}

function rewrite(file: string, edit: (t: Map<string, TensorToWrite>) => void): void {
  const f = SafetensorsFile.open(file);
  const tensors = new Map<string, TensorToWrite>();
  for (const n of f.names()) {
    const info = f.info(n);
    tensors.set(n, { dtype: info.dtype, shape: info.shape, data: f.read(n) });
  }
  const meta = { ...f.metadata };
  f.close();
  edit(tensors);
  writeSafetensorsSync(file, tensors, meta);
}

function editJson(file: string, edit: (j: Record<string, unknown>) => void): void {
  const j = JSON.parse(readFileSync(file, "utf8"));
  edit(j);
  writeFileSync(file, JSON.stringify(j));
}

function loadError(dir: string, options: Parameters<typeof loadModel>[1] = {}): string {
  let message = "";
  assert.throws(
    () => loadModel(dir, { backend: refBackend, ...options }),
    (e: Error) => {
      message = e.message;
      return true;
    },
  );
  assert.ok(!message.includes("\n"), `one line: ${message}`);
  return message;
}

/** inspect's failed checks (one line each) for dir; asserts it would exit 1. */
function inspectProblems(dir: string): string {
  const d = describePath(dir, { backend: refBackend });
  assert.ok(hasProblem(d), "inspect exits 1");
  return [d.model?.problem ?? "", ...d.checks.filter((c) => !c.ok).map((c) => c.text)].join(" | ");
}

/** Sets one BF16 value (raw bits) of a stored tensor. */
function setBits(dir: string, name: string, index: number, bits: number): void {
  rewrite(join(dir, "model.safetensors"), (t) => {
    const w = t.get(name)!;
    const data = Uint16Array.from(w.data as Uint16Array);
    data[index] = bits;
    t.set(name, { ...w, data });
  });
}

describe("strict model loading", () => {
  const NORM = "model.layers.1.post_attention_layernorm.weight";

  test("NaN or Inf in a weight: refused naming the tensor and index; --allow-nonfinite loads it", () => {
    for (const backend of [refBackend, getBackend()]) {
      const dir = copyFixture("gemma2-old");
      setBits(dir, NORM, 17, 0x7fc0); // BF16 NaN
      const msg = loadError(dir, { backend });
      assert.match(msg, new RegExp(`tensor "${NORM.replace(/\./g, "\\.")}" has NaN at index 17 of 48 values`));
      assert.match(msg, /--allow-nonfinite/);
      const seen: string[] = [];
      const model = loadModel(dir, { backend, allowNonFinite: true, onNonFinite: (m) => seen.push(m) });
      assert.equal(seen.length, 1);
      assert.ok(model.info.parameterCount > 0);
      assert.match(inspectProblems(dir), /has NaN at index 17/);
      assert.ok(!hasProblem(describePath(dir, { scanValues: false })), "--no-scan skips the data scan");
    }
    const dir = copyFixture("gemma2-old");
    setBits(dir, "model.embed_tokens.weight", 5 * 48 + 3, 0xff80); // -Inf at row 5, column 3
    assert.match(loadError(dir), /"model\.embed_tokens\.weight" has -Inf at index 243 \(\[5, 3\]\)/);
  });

  test("CLI: lm generate on NaN weights exits 1 with one line; --allow-nonfinite runs it with a warning", () => {
    const dir = copyFixture("gemma2-old");
    setBits(dir, NORM, 3, 0x7f80); // +Inf
    const args = [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "lm",
      "generate",
      "--model",
      dir,
      "--prompt",
      "the",
      "--max-tokens",
      "2",
    ];
    const cwd = join(import.meta.dirname, "..", "..");
    const refused = spawnSync(process.execPath, args, { cwd, encoding: "utf8" });
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /^msae: .*tensor "model\.layers\.1\.post_attention_layernorm\.weight" has \+Inf at index 3 of 48 values; expected finite values \(--allow-nonfinite/,
    );
    assert.equal(refused.stderr.trimEnd().split("\n").length, 1);
    const forced = spawnSync(process.execPath, [...args, "--allow-nonfinite", "--temperature", "0"], {
      cwd,
      encoding: "utf8",
    });
    assert.equal(forced.status, 0, forced.stderr);
    assert.match(
      forced.stderr,
      /^msae: warning \(--allow-nonfinite\): .*has \+Inf at index 3 of 48 values; expected finite values\n$/,
    );
    assert.ok(forced.stdout.startsWith("the"));
  });

  test("an integer dtype on a norm weight is refused, not converted", () => {
    const dir = copyFixture("gemma2-old");
    rewrite(join(dir, "model.safetensors"), (t) => {
      const w = t.get(NORM)!;
      t.set(NORM, { dtype: "I16", shape: w.shape, data: new Int16Array(w.shape[0]) });
    });
    assert.match(
      loadError(dir),
      /tensor "model\.layers\.1\.post_attention_layernorm\.weight": has dtype I16; expected one of F32, BF16, F16, F64 \(a float weight\)/,
    );
    assert.match(inspectProblems(dir), /has dtype I16/);
  });

  test("special-token ids outside the vocabulary, or disagreeing with tokenizer.json", () => {
    const out = copyFixture("gemma2-old");
    editJson(join(out, "config.json"), (c) => {
      c.eos_token_id = 288;
    });
    assert.match(loadError(out), /eos_token_id 288 is outside the vocabulary; expected an id < vocab_size 288/);
    assert.match(loadError(out, { tokenizer: false }), /eos_token_id 288 is outside the vocabulary/);
    assert.match(inspectProblems(out), /eos_token_id 288/);

    const str = copyFixture("gemma2-old");
    editJson(join(str, "config.json"), (c) => {
      c.pad_token_id = "0";
    });
    assert.match(
      loadError(str),
      /field pad_token_id is "0"; expected a token id \(an integer >= 0\), a list of them, or null/,
    );

    const swapped = copyFixture("gemma2-old");
    editJson(join(swapped, "config.json"), (c) => {
      c.bos_token_id = 1;
      c.eos_token_id = 2;
    });
    assert.match(
      loadError(swapped),
      /bos_token_id is 1 but .*tokenizer\.json has its bos token at id 2; expected them to agree/,
    );
    assert.match(inspectProblems(swapped), /bos_token_id is 1/);
  });

  test("more tokens in tokenizer.json than embedding rows", () => {
    const dir = copyFixture("gemma2-old");
    editJson(join(dir, "tokenizer.json"), (t) => {
      (t.added_tokens as unknown[]).push({ id: 300, content: "<extra>", special: true });
    });
    assert.match(loadError(dir), /has 301 tokens but the model's embedding has 288 rows/);
    assert.match(inspectProblems(dir), /301 tokens/);
  });

  test("a config with fewer layers than the weights: refused, not silently truncated", () => {
    const dir = copyFixture("gemma2-old");
    editJson(join(dir, "config.json"), (c) => {
      c.num_hidden_layers = 3;
    });
    assert.match(
      loadError(dir),
      /tensor model\.layers\.3\.\S+ is stored but not a weight of the model config\.json describes/,
    );
    assert.match(inspectProblems(dir), /model\.layers\.3\..* is stored but not a weight/);
  });

  test("model_type contradicting architectures", () => {
    const dir = copyFixture("gemma2-old");
    editJson(join(dir, "config.json"), (c) => {
      c.architectures = ["GPT2LMHeadModel"];
    });
    assert.match(loadError(dir), /model_type "gemma2" contradicts architectures \["GPT2LMHeadModel"\]/);
  });

  test("tokenizer.json whose declared model type contradicts its contents; inspect reads it", () => {
    const cases: [(t: Record<string, Record<string, unknown>>) => void, RegExp][] = [
      [
        (t) => {
          t.model.type = "Unigram";
        },
        /model\.type is Unigram but its contents are BPE-style/,
      ],
      [
        (t) => {
          t.model.type = "WordPiece";
        },
        /model\.type is WordPiece but it has merges/,
      ],
      [
        (t) => {
          (t.model.merges as string[]).push("zz qq");
        },
        /merge 28 "zz qq" uses "zz", which is not in model\.vocab/,
      ],
      [
        (t) => {
          const v = t.model.vocab as Record<string, number>;
          v.a = v.b;
        },
        /id \d+ is used by tokens "\w" and "\w"; expected unique ids/,
      ],
      [
        (t) => {
          (t as unknown as { added_tokens: { id: number }[] }).added_tokens[2].id = 7;
        },
        /added token "<bos>" has id 7 but model\.vocab gives it id 2/,
      ],
    ];
    for (const [edit, re] of cases) {
      const dir = copyFixture("gemma2-old");
      editJson(join(dir, "tokenizer.json"), edit as (j: Record<string, unknown>) => void);
      assert.throws(() => loadTokenizer(join(dir, "tokenizer.json")), re);
      assert.match(loadError(dir), re);
      assert.match(inspectProblems(dir), re);
    }
  });

  test("a tokenizer_config.json naming a token the vocabulary lacks", () => {
    const dir = copyFixture("gemma2-old");
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ bos_token: "<s>" }));
    assert.match(loadError(dir), /bos_token "<s>" is not a token of/);
  });

  test("the missing-tokenizer error names no API option a CLI user cannot pass", () => {
    const dir = copyFixture("gemma2-old");
    rmSync(join(dir, "tokenizer.json"));
    const msg = loadError(dir);
    assert.match(msg, /missing file .*tokenizer\.json; expected the model's tokenizer\.json beside its config\.json/);
    assert.doesNotMatch(msg, /tokenizer: false/);
  });

  test("a run folder marked incomplete is refused (one line with the resume command) until marked complete", () => {
    const dir = copyFixture("gemma2-old");
    markIncomplete(dir, "lm-train", { resume: `msae lm train --resume --out ${dir}` });
    const msg = loadError(dir);
    assert.match(msg, /is incomplete: its lm-train run stopped or was killed before the end/);
    assert.ok(msg.includes(`msae lm train --resume --out ${dir}`));
    assert.match(inspectProblems(dir), /is incomplete/);
    markComplete(dir, "lm-train");
    assert.ok(loadModel(dir, { backend: refBackend }).info.parameterCount > 0);
    writeFileSync(join(dir, "msae-run.json"), "{ torn");
    assert.match(loadError(dir), /msae-run\.json is not valid JSON/);
  });

  test("the intact fixtures still load and inspect clean", () => {
    for (const fx of ["gemma2-old", "gemma2-new", "gpt2"]) {
      loadModel(join(ROOT, fx), { backend: refBackend });
      const d = describePath(join(ROOT, fx), { backend: refBackend });
      assert.ok(!hasProblem(d), `${fx}: ${JSON.stringify(d.checks)}`);
    }
  });
});
