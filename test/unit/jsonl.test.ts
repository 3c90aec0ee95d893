/**
 * JSONL logs: append and read back; a truncated last line (a killed run) is tolerated and repaired;
 * a corrupt line in the middle is an error naming its line number; streaming across chunk borders.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { appendJsonl, iterJsonl, JsonlError, JsonlWriter, readJsonl, repairJsonlTail } from "../../src/io/jsonl.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "msae-jsonl-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = () => path.join(root, `log${counter++}.jsonl`);

test("appendJsonl writes one line per value and readJsonl reads them back", () => {
  const p = fresh();
  appendJsonl(p, { step: 1, loss: 0.5 });
  appendJsonl(p, { step: 2, loss: 0.25, tag: "é\n" }, { fsync: true });
  appendJsonl(p, [1, null]);
  assert.equal(fs.readFileSync(p, "utf8"), '{"step":1,"loss":0.5}\n{"step":2,"loss":0.25,"tag":"é\\n"}\n[1,null]\n');
  assert.deepEqual(readJsonl(p), {
    records: [{ step: 1, loss: 0.5 }, { step: 2, loss: 0.25, tag: "é\n" }, [1, null]],
    truncatedTail: false,
    validBytes: fs.statSync(p).size,
  });
  assert.throws(() => appendJsonl(p, undefined), /value of type undefined is not JSON/);
  assert.throws(() => appendJsonl(p, { x: 1n }), JsonlError);
});

test("a truncated last line is dropped and reported; repair cuts it so appends start on a fresh line", () => {
  const p = fresh();
  const good = '{"step":1}\n{"step":2}\n';
  fs.writeFileSync(p, `${good}{"step":3,"lo`);
  const r = readJsonl(p);
  assert.deepEqual(r.records, [{ step: 1 }, { step: 2 }]);
  assert.equal(r.truncatedTail, true);
  assert.equal(r.validBytes, Buffer.byteLength(good));
  const w = JsonlWriter.open(p); // repairs by default
  w.append({ step: 3 });
  w.close();
  assert.throws(() => w.append({}), /append after close/);
  assert.equal(fs.readFileSync(p, "utf8"), `${good}{"step":3}\n`);
  assert.equal(repairJsonlTail(p), false, "nothing to repair any more");
});

test("a complete last line without newline is kept, and repair adds the newline", () => {
  const p = fresh();
  fs.writeFileSync(p, '{"a":1}\n{"a":2}');
  assert.deepEqual(readJsonl(p), { records: [{ a: 1 }, { a: 2 }], truncatedTail: false, validBytes: 15 });
  assert.equal(repairJsonlTail(p), true);
  assert.equal(fs.readFileSync(p, "utf8"), '{"a":1}\n{"a":2}\n');
  assert.equal(repairJsonlTail(path.join(root, "missing.jsonl")), false);
});

test("a corrupt line in the middle is a one-line error naming the file and line number", () => {
  const p = fresh();
  fs.writeFileSync(p, '{"a":1}\n\n{"a":2\n{"a":3}\n');
  assert.throws(
    () => readJsonl(p),
    (e: unknown) =>
      e instanceof JsonlError &&
      e.line === 3 &&
      e.message.startsWith(`${p}:3: corrupt line (`) &&
      e.message.endsWith("expected one JSON value per line") &&
      !e.message.includes("\n"),
  );
  // a bad complete last line (with its newline) is corruption too, not truncation
  fs.writeFileSync(p, '{"a":1}\nnot json\n');
  assert.throws(() => readJsonl(p), /:2: corrupt line/);
  fs.writeFileSync(p, Buffer.concat([Buffer.from('{"a":1}\n"'), Buffer.from([0xff, 0x22, 0x0a])]));
  assert.throws(() => readJsonl(p), /:2: corrupt line \(not valid UTF-8\)/);
  assert.throws(() => readJsonl(path.join(root, "missing.jsonl")), /missing\.jsonl: cannot open \(no such file\)/);
});

test("blank lines and CRLF endings are accepted", () => {
  const p = fresh();
  fs.writeFileSync(p, '\n{"a":1}\r\n   \n{"a":2}\r\n');
  assert.deepEqual(readJsonl(p).records, [{ a: 1 }, { a: 2 }]);
  assert.deepEqual(
    [...iterJsonl(p)].map((r) => r.line),
    [2, 4],
  );
});

test("streaming reads lines that cross the 1 MB chunk border", () => {
  const p = fresh();
  const w = JsonlWriter.open(p, { fsync: false });
  const n = 30_000;
  for (let i = 0; i < n; i++) w.append({ i, pad: "x".repeat(i % 97) });
  w.flush();
  w.close();
  assert.ok(fs.statSync(p).size > 1.5 * (1 << 20), "spans more than one 1 MB chunk");
  let count = 0;
  for (const r of iterJsonl(p)) {
    const v = r.value as { i: number; pad: string };
    assert.equal(v.i, count);
    assert.equal(v.pad.length, count % 97);
    assert.equal(r.line, count + 1);
    count++;
  }
  assert.equal(count, n);
  // cut in the middle of the last line: every full line survives
  fs.truncateSync(p, fs.statSync(p).size - 5);
  const r = readJsonl(p);
  assert.equal(r.records.length, n - 1);
  assert.equal(r.truncatedTail, true);
});
