import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import { UsageError } from "../../src/cli/errors.ts";
import { parseConfig } from "../../src/config/parse.ts";

const schema = z
  .object({
    lr: z.number().positive().default(3e-4),
    arch: z.enum(["base", "multiscale"]).default("multiscale"),
    buffer: z
      .object({ contexts: z.number().int().min(1).default(2048) })
      .strict()
      .default({ contexts: 2048 }),
  })
  .strict();

test("defaults fill in and valid values pass", () => {
  assert.deepEqual(parseConfig(schema, {}), { lr: 3e-4, arch: "multiscale", buffer: { contexts: 2048 } });
  assert.equal(parseConfig(schema, { lr: 1 }).lr, 1);
});

test("a bad value names the field, the value and what is allowed, in one line", () => {
  const cases: [unknown, RegExp][] = [
    [{ lr: -1 }, /^train\.json: field "lr" is -1: expected number to be >0$/],
    [{ arch: "x" }, /^train\.json: field "arch" is "x": expected one of "base"\|"multiscale"$/],
    [{ buffer: { contexts: 1.5 } }, /^train\.json: field "buffer\.contexts" is 1\.5: expected int/],
    [{ lr: "fast" }, /field "lr" is "fast": expected number, received string/],
    [{ lrr: 1 }, /^train\.json: unknown field "lrr"$/],
    [{ lr: -1, arch: "x" }, /\(and 1 more problem\)$/],
  ];
  for (const [input, re] of cases) {
    assert.throws(
      () => parseConfig(schema, input, "train.json"),
      (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes("\n"),
      JSON.stringify(input),
    );
  }
});
