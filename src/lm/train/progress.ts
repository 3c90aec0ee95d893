/**
 * Training progress on stderr: a cli-progress bar (step, loss, tokens/s, ETA) when stderr is a
 * terminal, else one plain line every `every` steps (and for every message), so logs of
 * non-interactive runs stay readable. tokens/s is measured over the steps since the last report.
 */
import cliProgress from "cli-progress";

export interface StepReport {
  step: number;
  loss: number;
  lr: number;
  tokensPerSecond: number;
  valLoss?: number;
}

export class TrainProgress {
  private readonly bar: cliProgress.SingleBar | null;
  private readonly total: number;
  private readonly every: number;
  private readonly write: (line: string) => void;
  private readonly start = performance.now();
  private readonly startStep: number;
  private lastVal: number | null = null;

  constructor(
    total: number,
    startStep: number,
    options: { tty?: boolean; every?: number; write?: (line: string) => void } = {},
  ) {
    this.total = total;
    this.startStep = startStep;
    this.every = options.every ?? 20;
    this.write = options.write ?? ((line) => process.stderr.write(`${line}\n`));
    const tty = options.tty ?? (process.stderr.isTTY === true && !options.write);
    if (tty) {
      this.bar = new cliProgress.SingleBar(
        {
          format: "train {bar} {value}/{total} steps | loss {loss} | val {val} | {tps} tok/s | ETA {eta_formatted}",
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 50,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, startStep, { loss: "-", val: "-", tps: "-" });
    } else {
      this.bar = null;
    }
  }

  /** After each optimizer step. */
  step(r: StepReport): void {
    if (r.valLoss !== undefined) this.lastVal = r.valLoss;
    if (this.bar) {
      this.bar.update(r.step, {
        loss: r.loss.toFixed(3),
        val: this.lastVal === null ? "-" : this.lastVal.toFixed(3),
        tps: Math.round(r.tokensPerSecond),
      });
      return;
    }
    if (r.step % this.every === 0 || r.step === this.total || r.valLoss !== undefined) {
      const elapsed = (performance.now() - this.start) / 1000;
      const done = r.step - this.startStep;
      const eta = done > 0 ? ((this.total - r.step) * elapsed) / done : Number.NaN;
      const val = r.valLoss !== undefined ? ` val ${r.valLoss.toFixed(4)}` : "";
      this.write(
        `step ${r.step}/${this.total} loss ${r.loss.toFixed(4)}${val} lr ${r.lr.toExponential(2)} ` +
          `${Math.round(r.tokensPerSecond)} tok/s elapsed ${formatSeconds(elapsed)} ETA ${formatSeconds(eta)}`,
      );
    }
  }

  /** A message line (kept above the bar on a terminal). */
  message(line: string): void {
    if (this.bar) {
      this.bar.stop();
      this.write(line);
      this.bar.start(this.total, this.bar.getProgress() * this.total, {});
    } else {
      this.write(line);
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "-";
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}
