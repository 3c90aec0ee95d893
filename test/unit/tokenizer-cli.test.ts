/**
 * `msae tokenizer train` / `encode` through commander: trains on a small .txt file, the written
 * tokenizer.json loads and has the asked size; bad options are usage errors.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Command } from "commander";
import { UsageError } from "../../src/cli/errors.ts";
import { register } from "../../src/cli/tokenizer.ts";
import { loadTokenizer } from "../../src/tokenizer/load.ts";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "msae-tok-cli-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  register(program);
  let out = "";
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string) => {
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await program.parseAsync(["node", "msae", ...args]);
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
  }
  return out;
}

test("tokenizer train writes a loadable tokenizer.json of the asked size; encode prints ids", async () => {
  const data = join(dir, "corpus.txt");
  writeFileSync(data, "the cat sat on the mat. the dog sat on the log. ".repeat(50));
  const out = join(dir, "tok.json");
  const report = await run(["tokenizer", "train", "--data", data, "--vocab", "270", "--out", out]);
  assert.match(report, /^wrote .*tok\.json: 270 tokens \(3 specials, 256 bytes, 11 merges\) from 1 documents/);
  const tok = loadTokenizer(out);
  assert.equal(tok.vocabSize, 270);
  assert.equal(tok.decode(tok.encode("the cat")), "the cat");
  const shown = await run(["tokenizer", "encode", "--tokenizer", out, "the", "cat"]);
  assert.match(shown, /ids: {4}[\d ]+\ntokens: "the" "Ġ.*\ndecode round trip: exact/);
});

test("bad options are usage errors naming the option or the spec", async () => {
  await assert.rejects(
    run(["tokenizer", "train", "--data", "brown:test"]),
    (e: Error) => e instanceof UsageError && /data spec "brown:test"/.test(e.message),
  );
  await assert.rejects(
    run(["tokenizer", "train", "--vocab", "12"]),
    (e: Error) => e instanceof UsageError && /--vocab "12"/.test(e.message),
  );
  await assert.rejects(run(["tokenizer", "train", "--specials", "<bos>,<bos>"]), /--specials/);
});
