/**
 * msae command line: one file per command under src/cli/, each exporting register(program).
 */
import { Command } from "commander";
import { register as registerAblate } from "./ablate.ts";
import { register as registerBench } from "./bench.ts";
import { oneLineCommanderErrors, reportError } from "./errors.ts";
import { register as registerEval } from "./eval.ts";
import { register as registerFeatures } from "./features.ts";
import { register as registerHarvest } from "./harvest.ts";
import { register as registerInspect } from "./inspect.ts";
import { register as registerLm } from "./lm.ts";
import { registerSae } from "./sae.ts";
import { register as registerServe } from "./serve.ts";
import { register as registerTokenizer } from "./tokenizer.ts";
import { register as registerTrain } from "./train.ts";

const program = new Command();
program
  .name("msae")
  .description("Multi-scale sparse autoencoders: find interpretable features inside language models")
  .option("--debug", "print stack traces on errors")
  .showHelpAfterError()
  .exitOverride();

registerAblate(program);
registerBench(program);
registerTokenizer(program);
registerInspect(program);
registerLm(program);
registerHarvest(program);
registerSae(program);
registerTrain(program);
registerEval(program);
registerFeatures(program);
registerServe(program);
oneLineCommanderErrors(program); // after every command is registered

const debug = process.argv.includes("--debug");
try {
  await program.parseAsync(process.argv);
} catch (e) {
  const code = (e as { code?: string }).code;
  if (code === "commander.helpDisplayed" || code === "commander.version" || code === "commander.help") process.exit(0);
  if (code?.startsWith("commander.")) process.exit(2); // commander already printed its message
  process.exit(reportError(e, debug));
}
