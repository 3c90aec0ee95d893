/**
 * `msae tokenizer train`: learn a byte-level BPE vocabulary from a corpus and write a Hugging Face
 * tokenizer.json (src/tokenizer/). `msae tokenizer encode`: show how a tokenizer.json splits a text.
 */
import type { Command } from "commander";
import { openCorpora } from "../data/spec.ts";
import { checkOutputFile } from "../io/complete.ts";
import { loadTokenizer } from "../tokenizer/load.ts";
import { DEFAULT_SPECIALS, trainTokenizer, writeTokenizerJson } from "../tokenizer/train.ts";
import { badOption, parseIntOption, UsageError } from "./errors.ts";

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function register(program: Command): void {
  const tokenizer = program
    .command("tokenizer")
    .description("train or inspect byte-level BPE tokenizers (HF tokenizer.json)");

  tokenizer
    .command("train")
    .description("learn a byte-level BPE vocabulary from a corpus and write tokenizer.json")
    .option(
      "--data <spec>",
      "corpus: brown:train, brown:validation, brown, nlp-corpus, or a .txt/.jsonl/.parquet file or folder (repeatable)",
      collect,
    )
    .option("--vocab <n>", "vocabulary size, including the special tokens and the 256 bytes", "8192")
    .option("--out <path>", "output tokenizer.json", "tokenizer.json")
    .option("--min-count <n>", "stop early when the most frequent pair occurs fewer times", "2")
    .option("--specials <list>", "comma-separated special tokens, ids 0.. in this order", DEFAULT_SPECIALS.join(","))
    .action(async (opts: { data?: string[]; vocab: string; out: string; minCount: string; specials: string }) => {
      const vocabSize = parseIntOption("--vocab", opts.vocab, 259, 2 ** 21 - 1);
      const minPairCount = parseIntOption("--min-count", opts.minCount, 1);
      const specials = opts.specials.split(",").map((s) => s.trim());
      if (specials.some((s) => s.length < 2) || new Set(specials).size !== specials.length) {
        throw badOption("--specials", opts.specials, "distinct comma-separated tokens of at least 2 characters");
      }
      if (vocabSize < specials.length + 256) {
        throw badOption("--vocab", opts.vocab, `at least ${specials.length + 256} (specials + 256 bytes)`);
      }
      checkOutputFile(opts.out, "--out"); // before the work, not after it
      let corpus: ReturnType<typeof openCorpora>;
      try {
        corpus = openCorpora(opts.data ?? ["brown:train"]);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const log = (m: string): void => {
        process.stderr.write(`msae tokenizer train: ${m}\n`);
      };
      log(`data ${corpus.spec}, vocabulary ${vocabSize}, specials ${specials.join(" ")}`);
      const t0 = performance.now();
      const result = await trainTokenizer(corpus.documents(), { vocabSize, specials, minPairCount, onProgress: log });
      writeTokenizerJson(opts.out, result.json);
      const s = result.stats;
      const seconds = (performance.now() - t0) / 1000;
      if (s.vocabSize < vocabSize)
        log(`the corpus ran out of pairs occurring >= ${minPairCount} times at ${s.vocabSize} tokens`);
      process.stdout.write(
        `wrote ${opts.out}: ${s.vocabSize} tokens (${specials.length} specials, 256 bytes, ${s.merges} merges) ` +
          `from ${s.documents} documents, ${s.preTokens} pre-tokens (${s.uniqueWords} distinct) ` +
          `in ${seconds.toFixed(1)} s (counting ${s.countSeconds.toFixed(1)} s, merging ${s.mergeSeconds.toFixed(1)} s)\n`,
      );
    });

  tokenizer
    .command("encode")
    .description("print the token ids and pieces of a text")
    .requiredOption("--tokenizer <path>", "tokenizer.json")
    .argument("<text...>", "text to encode (words are joined with spaces)")
    .action((words: string[], opts: { tokenizer: string }) => {
      const tok = loadTokenizer(opts.tokenizer);
      const text = words.join(" ");
      const ids = tok.encode(text);
      // tokens as written in tokenizer.json (byte-level: "Ġ" is a space, "Ċ" a newline)
      const tokens = Array.from(ids, (id) => JSON.stringify(tok.idToToken(id) ?? `<${id}>`));
      process.stdout.write(`${ids.length} tokens (${tok.engine}, vocabulary ${tok.vocabSize})\n`);
      process.stdout.write(`ids:    ${Array.from(ids).join(" ")}\n`);
      process.stdout.write(`tokens: ${tokens.join(" ")}\n`);
      const back = tok.decode(ids);
      process.stdout.write(`decode round trip: ${back === text ? "exact" : "DIFFERENT"}\n`);
    });
}
