/**
 * SafetensorsBuffer (the explorer's in-memory reader) against the file reader on the files the
 * Python reference wrote and on a model, and the same one-line refusals on broken bytes. Also the
 * explorer bundle: built for the browser platform, it holds no node: import.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { SafetensorsError, SafetensorsFile } from "../../src/io/safetensors.ts";
import { SafetensorsBuffer } from "../../src/io/safetensors-buffer.ts";
import { explorerBundle } from "../../src/report/explorer/bundle.ts";

const FILES = [
  join(import.meta.dirname, "..", "golden", "safetensors", "python_dtypes.safetensors"),
  join(import.meta.dirname, "..", "golden", "lm", "gemma2-old", "model.safetensors"),
];

test("SafetensorsBuffer reads what SafetensorsFile reads (every tensor, raw and as f32, row ranges)", () => {
  for (const path of FILES) {
    const file = SafetensorsFile.open(path);
    const bytes = readFileSync(path);
    // an unaligned copy: the reader must not depend on the buffer's offset
    const shifted = new Uint8Array(bytes.length + 3).subarray(3);
    shifted.set(bytes);
    const buf = SafetensorsBuffer.from(path, shifted);
    try {
      assert.deepEqual(buf.names(), file.names());
      assert.deepEqual(buf.metadata, file.metadata);
      for (const name of file.names()) {
        assert.deepEqual(buf.info(name), file.info(name));
        assert.deepEqual(buf.read(name), file.read(name), name);
        const info = file.info(name);
        if (!["BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64"].includes(info.dtype))
          assert.deepEqual(buf.readF32(name), file.readF32(name), name);
        if (info.shape.length >= 1 && info.shape[0] >= 2)
          assert.deepEqual(buf.read(name, [1, 2]), file.read(name, [1, 2]), `${name} rows`);
      }
    } finally {
      file.close();
    }
  }
});

test("SafetensorsBuffer refuses broken bytes with the header checks' one-line errors", () => {
  const good = readFileSync(FILES[1]);
  const cases: [string, Uint8Array, RegExp][] = [
    ["short", good.subarray(0, 5), /expected at least 8/],
    ["truncated data", good.subarray(0, good.length - 10), /run past the .*truncated file/],
    ["truncated header", good.subarray(0, 40), /runs past the end/],
    ["zero header", new Uint8Array(16), /header length is 0/],
  ];
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  cases.push(["huge header", huge, /exceeds the/]);
  for (const [what, bytes, re] of cases) {
    assert.throws(
      () => SafetensorsBuffer.from("x.safetensors", bytes),
      (e: Error) => e instanceof SafetensorsError && re.test(e.message) && !e.message.includes("\n"),
      what,
    );
  }
  const buf = SafetensorsBuffer.from("m.safetensors", good);
  assert.throws(() => buf.read("nope"), /not found/);
  assert.throws(() => buf.readF32(buf.names()[0], { shape: [1, 2, 3, 4, 5] }), /expected \[1, 2, 3, 4, 5\]/);
});

test("the explorer bundle is built for the browser with no node: import", async () => {
  const js = await explorerBundle();
  assert.ok(js.length > 100_000, "the engine, the tokenizer and zod are inside");
  assert.doesNotMatch(js, /from\s*["']node:|require\(["']node:|import\(["']node:/);
  assert.doesNotMatch(js, /https?:\/\/[a-z0-9.-]*(unpkg|jsdelivr|cdnjs|esm\.sh)/i, "nothing from a CDN");
});
