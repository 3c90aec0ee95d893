/**
 * Data specs: the strings CLIs take for a corpus.
 *   brown:train       the 450 Brown training documents (brown.ts: every document but each 10th)
 *   brown:validation  the 50 Brown validation documents (the 10th, 20th, ... in id order)
 *   brown             all 500 Brown documents
 *   nlp-corpus        nlp-corpus's sentences, one document each (out-of-distribution text)
 *   <path>            a .txt file (one document), a .jsonl file (`text` field per line), a .parquet
 *                     file (`text` column), or a folder of such files (recursive, sorted); files.ts
 * openCorpus validates the spec at once (a bad one is a one-line error naming it and listing the
 * allowed forms) and returns a corpus whose documents() can be iterated any number of times.
 */
import { existsSync, statSync } from "node:fs";
import { brownDocuments } from "./brown.ts";
import { isCorpusFile, pathDocuments } from "./files.ts";
import { nlpCorpusDocuments } from "./nlp-corpus.ts";

export const DATA_SPEC_FORMS =
  "brown:train, brown:validation, brown, nlp-corpus, or a path to a .txt, .jsonl or .parquet file or a folder of them";

export interface Corpus {
  spec: string;
  kind: "brown" | "nlp-corpus" | "file" | "folder";
  /** A fresh stream of the documents (strings), in a fixed order. */
  documents(): AsyncIterable<string>;
}

async function* fromSync(make: () => Iterable<string>): AsyncGenerator<string> {
  yield* make();
}

export function openCorpus(spec: string): Corpus {
  switch (spec) {
    case "brown:train":
      return { spec, kind: "brown", documents: () => fromSync(() => brownDocuments("train")) };
    case "brown:validation":
      return { spec, kind: "brown", documents: () => fromSync(() => brownDocuments("validation")) };
    case "brown":
    case "brown:all":
      return { spec, kind: "brown", documents: () => fromSync(() => brownDocuments("all")) };
    case "nlp-corpus":
      return { spec, kind: "nlp-corpus", documents: () => fromSync(() => nlpCorpusDocuments()) };
  }
  if (spec.length === 0 || !existsSync(spec)) {
    const why = spec.startsWith("brown:") ? "unknown Brown split" : "no such file or folder";
    throw new Error(`data spec "${spec}" is not valid (${why}): expected ${DATA_SPEC_FORMS}`);
  }
  const isDir = statSync(spec).isDirectory();
  if (!isDir && !isCorpusFile(spec)) {
    throw new Error(`data spec "${spec}" is not valid (unsupported file type): expected ${DATA_SPEC_FORMS}`);
  }
  return { spec, kind: isDir ? "folder" : "file", documents: () => pathDocuments(spec) };
}

/** The documents of several specs, one after the other. */
export function openCorpora(specs: readonly string[]): Corpus {
  if (specs.length === 0) throw new Error(`no data spec given: expected ${DATA_SPEC_FORMS}`);
  const corpora = specs.map(openCorpus);
  if (corpora.length === 1) return corpora[0];
  return {
    spec: specs.join(","),
    kind: corpora[0].kind,
    documents: async function* () {
      for (const c of corpora) yield* c.documents();
    },
  };
}
