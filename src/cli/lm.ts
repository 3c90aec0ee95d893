/**
 * `msae lm`: train, evaluate and sample Gemma-2-architecture language models with the engine.
 *   msae lm train --config <json> --data brown:train --out <dir> [--resume] [--max-steps n]
 *   msae lm eval --model <dir> --data brown:validation [--train-data brown:train] [--json] [--allow-nonfinite]
 *   msae lm generate --model <dir> --prompt "..." [--max-tokens 60] [--temperature 0.8] [--top-k 40] [--seed 0]
 *                    [--allow-nonfinite]
 * A model whose weights hold NaN / Inf is refused (one line naming the tensor and index) unless
 * --allow-nonfinite, which loads it with a warning (forensics).
 * Thin: parse and validate options, call src/lm/train/.
 */
import type { Command } from "commander";
import { getBackend } from "../core/backends/index.ts";
import { defaultModelDir } from "../core/paths.ts";
import { openCorpus } from "../data/spec.ts";
import { loadModel } from "../lm/loader.ts";
import { type LmTrainConfig, parseLmTrainConfig, readLmTrainConfig } from "../lm/train/config.ts";
import { evaluateModel } from "../lm/train/eval-model.ts";
import { KernelProfile, profiledBackend } from "../lm/train/profile.ts";
import { generateIds } from "../lm/train/sample.ts";
import { trainLm } from "../lm/train/trainer.ts";
import { badOption, parseIntOption, parseNumberOption, UsageError } from "./errors.ts";

type BackendName = "auto" | "native" | "ref";

function backendOption(value: string): BackendName {
  if (value !== "auto" && value !== "native" && value !== "ref")
    throw badOption("--backend", value, "auto, native or ref");
  return value;
}

/** Validates a data spec now, as a usage error. */
function checkSpec(option: string, spec: string): string {
  try {
    openCorpus(spec);
  } catch (e) {
    throw new UsageError(`${option}: ${(e as Error).message}`);
  }
  return spec;
}

const ALLOW_NONFINITE_HELP = "load weights holding NaN / Inf anyway (forensics; results will not be finite)";

/** The warning printed when --allow-nonfinite lets a non-finite weight through. */
function warnNonFinite(message: string): void {
  process.stderr.write(`msae: warning (--allow-nonfinite): ${message.replace(/ \(--allow-nonfinite.*\)$/, "")}\n`);
}

export function register(program: Command): void {
  const lm = program.command("lm").description("train, evaluate and sample Gemma-2-architecture language models");

  lm.command("train")
    .description("train a Gemma-2-architecture LM from scratch into a Hugging Face model folder")
    .option("--config <json>", "training config (model, tokenizer, training sections; absent fields take defaults)")
    .option("--data <spec>", "training corpus (brown:train, a .txt/.jsonl/.parquet file or folder, ...)", "brown:train")
    .option("--val-data <spec>", "validation corpus (default: brown:validation for brown:train, else a held-out tail)")
    .requiredOption("--out <dir>", "output model folder (config.json, model.safetensors, tokenizer.json, logs)")
    .option("--resume", "continue the run in --out from its last checkpoint")
    .option("--max-steps <n>", "stop after this optimizer step with a checkpoint, as if interrupted")
    .option("--backend <name>", "auto, native or ref", "auto")
    .option("--profile", "time every kernel call of the training steps and print where the time goes")
    .action(
      async (opts: {
        profile?: boolean;
        config?: string;
        data: string;
        valData?: string;
        out: string;
        resume?: boolean;
        maxSteps?: string;
        backend: string;
      }) => {
        const config: LmTrainConfig = opts.config ? readLmTrainConfig(opts.config) : parseLmTrainConfig({});
        const stopAfter = opts.maxSteps === undefined ? undefined : parseIntOption("--max-steps", opts.maxSteps, 1);
        checkSpec("--data", opts.data);
        if (opts.valData) checkSpec("--val-data", opts.valData);
        const profile = opts.profile ? new KernelProfile() : undefined;
        const base = getBackend(backendOption(opts.backend));
        const backend = profile ? profiledBackend(base, profile) : base;
        let stopRequested = false;
        const onSigint = () => {
          stopRequested = true;
          process.stderr.write(
            "\nmsae lm train: stopping after this step (checkpoint follows); Ctrl-C again to abort\n",
          );
        };
        process.once("SIGINT", onSigint);
        try {
          const r = await trainLm({
            config,
            data: opts.data,
            valData: opts.valData ?? null,
            out: opts.out,
            resume: opts.resume ?? false,
            stopAfter,
            shouldStop: () => stopRequested,
            resumeCommand:
              `msae lm train --resume --out ${opts.out} --data ${opts.data}` +
              (opts.config ? ` --config ${opts.config}` : "") +
              (opts.valData ? ` --val-data ${opts.valData}` : ""),
            backend,
            profile,
          });
          if (profile) process.stdout.write(`${profile.table(r.trainSeconds).join("\n")}\n`);
          if (Number.isNaN(r.loss)) {
            process.stdout.write(`nothing to train: ${opts.out} is at step ${r.step}/${r.totalSteps}\n`);
            return;
          }
          const val = Number.isNaN(r.valLoss) ? "" : `, validation loss ${r.valLoss.toFixed(4)}`;
          process.stdout.write(
            `${r.stopped ? "stopped" : "trained"} at step ${r.step}/${r.totalSteps}: loss ${r.loss.toFixed(4)}${val}, ` +
              `${Math.round(r.tokensPerSecond)} tokens/s, ${r.parameters} parameters; model folder ${opts.out}\n`,
          );
        } finally {
          process.removeListener("SIGINT", onSigint);
        }
      },
    );

  lm.command("eval")
    .description("loss per token and perplexity of a model folder, beside add-k unigram and bigram baselines")
    .option("--model <dir>", "model folder (config.json, model.safetensors, tokenizer.json)", defaultModelDir)
    .option("--data <spec>", "evaluation corpus", "brown:validation")
    .option("--train-data <spec>", "corpus the n-gram baselines are fitted on", "brown:train")
    .option("--context <n>", "context length (default min(128, the model's))")
    .option("--batch <n>", "contexts per forward batch", "8")
    .option("--json", "print the result as one JSON object")
    .option("--backend <name>", "auto, native or ref", "auto")
    .option("--allow-nonfinite", ALLOW_NONFINITE_HELP)
    .action(
      async (opts: {
        allowNonfinite?: boolean;
        model: string;
        data: string;
        trainData: string;
        context?: string;
        batch: string;
        json?: boolean;
        backend: string;
      }) => {
        checkSpec("--data", opts.data);
        checkSpec("--train-data", opts.trainData);
        const batch = parseIntOption("--batch", opts.batch, 1, 4096);
        const contextLength = opts.context === undefined ? undefined : parseIntOption("--context", opts.context, 2);
        const r = await evaluateModel({
          model: opts.model,
          data: opts.data,
          trainData: opts.trainData,
          batch,
          contextLength,
          backend: getBackend(backendOption(opts.backend)),
          allowNonFinite: opts.allowNonfinite ?? false,
          onNonFinite: warnNonFinite,
        });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(r)}\n`);
          return;
        }
        const f = (x: number) => x.toFixed(4);
        process.stdout.write(
          `${opts.model} on ${opts.data}: ${r.tokens} tokens in ${r.contexts} contexts of ${r.context_length}\n` +
            `  model          loss ${f(r.loss)} nats/token  ppl ${r.ppl.toFixed(2)}\n` +
            `  bigram add-k   loss ${f(r.bigram_loss)}  ppl ${Math.exp(r.bigram_loss).toFixed(2)}  (k ${r.bigram_k.toPrecision(3)}, fitted on ${opts.trainData})\n` +
            `  unigram add-k  loss ${f(r.unigram_loss)}  ppl ${Math.exp(r.unigram_loss).toFixed(2)}  (k ${r.unigram_k.toPrecision(3)})\n` +
            `  model - bigram ${f(r.loss - r.bigram_loss)} nats/token\n`,
        );
      },
    );

  lm.command("generate")
    .description("sample a continuation of a prompt")
    .option("--model <dir>", "model folder", defaultModelDir)
    .requiredOption("--prompt <text>", "text to continue")
    .option("--max-tokens <n>", "tokens to generate at most", "60")
    .option("--temperature <t>", "sampling temperature (0 = greedy)", "0.8")
    .option("--top-k <k>", "sample among the k most likely tokens (0 = all)", "40")
    .option("--seed <n>", "random seed", "0")
    .option("--backend <name>", "auto, native or ref", "auto")
    .option("--allow-nonfinite", ALLOW_NONFINITE_HELP)
    .action(
      (opts: {
        allowNonfinite?: boolean;
        model: string;
        prompt: string;
        maxTokens: string;
        temperature: string;
        topK: string;
        seed: string;
        backend: string;
      }) => {
        const maxTokens = parseIntOption("--max-tokens", opts.maxTokens, 0, 100000);
        const temperature = parseNumberOption("--temperature", opts.temperature, 0, 100);
        const topK = parseIntOption("--top-k", opts.topK, 0);
        const seed = parseIntOption("--seed", opts.seed, 0, 2 ** 32 - 1);
        const model = loadModel(opts.model, {
          backend: getBackend(backendOption(opts.backend)),
          allowNonFinite: opts.allowNonfinite ?? false,
          onNonFinite: warnNonFinite,
        });
        const tok = model.tokenizer!;
        const ids = generateIds(model, Array.from(tok.encode(opts.prompt)), { maxTokens, temperature, topK, seed });
        process.stdout.write(`${opts.prompt}${tok.decode(ids)}\n`);
      },
    );
}
