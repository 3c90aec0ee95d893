/**
 * `--precision bf16` as a user runs it (child processes, the shipped model):
 *  - `msae harvest --precision bf16` records "bf16" in each store's manifest; its activations are
 *    within bf16 precision of an fp32 harvest of the same contexts (normwise relative difference
 *    per hook below 2e-2 and above 1e-5: the bf16 forward did run) and the rows are the same ones;
 *  - rerunning into that folder with --precision f32 is refused in one line naming the precision;
 *    an ablation reading stores of both precisions cannot happen (openStores compares identities);
 *  - an ablation run folder from before --precision existed resumes as f32 and refuses bf16;
 *  - a bad value (--precision fp8) on harvest, eval, ablate and bench lm: one line naming what is
 *    expected, exit 2; eval --acts with --precision bf16: one line (no model runs there).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseAblateOptions } from "../../src/config/ablate.ts";
import { openStore, openStores } from "../../src/harvest/store.ts";
import { msae } from "../helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "msae-precision-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const HOOKS = "blocks.1.hook_resid_post,blocks.4.hook_resid_post";
const harvest = (out: string, precision: string) =>
  msae([
    "harvest",
    "--hooks",
    HOOKS,
    "--data",
    "brown:validation",
    "--tokens",
    "1024",
    "--precision",
    precision,
    "--out",
    out,
  ]);

/** One line of text on stderr, nothing else. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  return lines[0];
}

test("a bf16 harvest records its precision, stays within bf16 precision of f32, and is never mixed with f32", () => {
  const [b, f] = [join(dir, "bf16"), join(dir, "f32")];
  let r = harvest(b, "bf16");
  assert.equal(r.code, 0, r.stderr);
  r = harvest(f, "f32");
  assert.equal(r.code, 0, r.stderr);
  for (const hook of HOOKS.split(",")) {
    const m = JSON.parse(readFileSync(join(b, "acts", hook, "manifest.json"), "utf8"));
    assert.equal(m.precision, "bf16");
    assert.equal(JSON.parse(readFileSync(join(f, "acts", hook, "manifest.json"), "utf8")).precision, "f32");
    const sb = openStore(join(b, "acts", hook));
    const sf = openStore(join(f, "acts", hook));
    assert.equal(sb.rows, sf.rows);
    const [xb, xf] = [sb.readShard(0), sf.readShard(0)];
    assert.deepEqual(xb.token, xf.token);
    const [ab, af] = [xb.acts[0], xf.acts[0]];
    let e = 0;
    let n = 0;
    for (let i = 0; i < af.length; i++) {
      e += (ab[i] - af[i]) ** 2;
      n += af[i] ** 2;
    }
    const rel = Math.sqrt(e / n);
    assert.ok(rel < 2e-2 && rel > 1e-5, `${hook}: ||bf16 - f32|| / ||f32|| = ${rel}`);
  }
  r = harvest(b, "f32");
  assert.equal(r.code, 1);
  assert.match(oneLine(r.stderr), /different precision \("bf16" vs "f32"\)/);
  assert.throws(
    () => openStores([join(b, "acts", "blocks.1.hook_resid_post"), join(f, "acts", "blocks.4.hook_resid_post")]),
    /precision/,
  );
});

test("--precision fp8 is one line naming what is expected (exit 2) on every command", () => {
  const cases: [string, string[]][] = [
    ["harvest", ["harvest", "--precision", "fp8", "--out", join(dir, "x")]],
    ["eval", ["eval", "--sae", dir, "--precision", "fp8"]],
    ["ablate", ["ablate", "--precision", "fp8", "--out", join(dir, "y")]],
    ["bench lm", ["bench", "lm", "--precision", "fp8", "--no-torch"]],
  ];
  for (const [name, args] of cases) {
    const r = msae(args);
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), /precision.*fp8.*(f32.*bf16)/, name);
  }
  const r = msae(["eval", "--sae", dir, "--acts", dir, "--precision", "bf16"]);
  assert.equal(r.code, 2);
  assert.match(oneLine(r.stderr), /--acts runs no model/);
});

test("an ablation folder written before --precision existed resumes as f32 and refuses bf16", () => {
  const out = join(dir, "old-ablate");
  mkdirSync(out);
  const o = parseAblateOptions({ model: join(dir, "no-such-model"), out });
  const { out: _, precision: __, ...old } = o;
  writeFileSync(join(out, "ablate.json"), JSON.stringify(old));
  let r = msae(["ablate", "--model", join(dir, "no-such-model"), "--out", out]);
  assert.equal(r.code, 1);
  assert.match(oneLine(r.stderr), /does not exist/); // past the options check, at the model
  r = msae(["ablate", "--model", join(dir, "no-such-model"), "--out", out, "--precision", "bf16"]);
  assert.equal(r.code, 2);
  assert.match(oneLine(r.stderr), /other options \(precision differs\)/);
});
