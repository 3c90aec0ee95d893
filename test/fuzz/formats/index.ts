/**
 * The fuzzed formats (see ../generator.ts for how to add one): each entry is a FuzzFormat and the
 * number of corrupted variants the suite draws for it.
 */
import { type FuzzFormat, type FuzzStats, runFormat } from "../generator.ts";
import { actsManifestFormat, actsShardFormat } from "./acts.ts";
import { configFormat } from "./config.ts";
import { jsonlFormat, parquetFormat, txtFormat } from "./corpora.ts";
import { saeCfgFormat, saeWeightsFormat } from "./sae.ts";
import { safetensorsFormat } from "./safetensors.ts";
import { tokenizerFormat } from "./tokenizer.ts";

export interface FuzzEntry {
  name: string;
  cases: number;
  run: (o: { seed: number; work: string }) => Promise<FuzzStats>;
}

/** The formats themselves (for test/fuzz/repro.ts). */
export const FORMAT_LIST: FuzzFormat<unknown>[] = [
  safetensorsFormat,
  configFormat,
  tokenizerFormat,
  txtFormat,
  jsonlFormat,
  parquetFormat,
  actsManifestFormat,
  actsShardFormat,
  saeWeightsFormat,
  saeCfgFormat,
] as FuzzFormat<unknown>[];

function entry<L>(format: FuzzFormat<L>, cases: number): FuzzEntry {
  return { name: format.name, cases, run: (o) => runFormat(format, { ...o, cases }) };
}

export const FORMATS: FuzzEntry[] = [
  entry(safetensorsFormat, 1200),
  entry(configFormat, 1200),
  entry(tokenizerFormat, 1200),
  entry(txtFormat, 1000),
  entry(jsonlFormat, 1000),
  entry(parquetFormat, 1000),
  entry(actsManifestFormat, 1000),
  entry(actsShardFormat, 1000),
  entry(saeWeightsFormat, 1000),
  entry(saeCfgFormat, 1000),
];
