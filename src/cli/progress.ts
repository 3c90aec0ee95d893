/**
 * Progress of long CLI work measured in units (tokens, rows): a cli-progress bar with units/s and
 * ETA when stderr is a terminal, else one plain line every `everySeconds` (default 10) and at the end,
 * so logs of non-interactive runs stay readable. The bar appears with the first update.
 */
import cliProgress from "cli-progress";
import { formatSeconds } from "../lm/train/progress.ts";

export class RateProgress {
  private readonly bar: cliProgress.SingleBar | null;
  private readonly label: string;
  private readonly unit: string;
  private readonly everyMs: number;
  private readonly write: (line: string) => void;
  private readonly start = performance.now();
  private lastLine = performance.now();
  private total: number;

  constructor(
    label: string,
    total: number,
    options: { unit?: string; tty?: boolean; everySeconds?: number; write?: (line: string) => void } = {},
  ) {
    this.label = label;
    this.total = total;
    this.unit = options.unit ?? "tok";
    this.everyMs = (options.everySeconds ?? 10) * 1000;
    this.write = options.write ?? ((line) => process.stderr.write(`${line}\n`));
    const tty = options.tty ?? (process.stderr.isTTY === true && !options.write);
    this.bar = tty
      ? new cliProgress.SingleBar(
          {
            format: `${label} {bar} {percentage}% | {value}/{total} ${this.unit} | {rate} ${this.unit}/s | ETA {eta_formatted}`,
            stream: process.stderr,
            hideCursor: true,
            etaBuffer: 20,
            fps: 5,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  }

  private started = false;

  update(done: number, total = this.total): void {
    this.total = total;
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    if (this.bar) {
      if (!this.started) this.bar.start(total, 0, { rate: "-" });
      this.started = true;
      this.bar.setTotal(total);
      this.bar.update(done, { rate: Math.round(rate) });
      return;
    }
    const now = performance.now();
    if (now - this.lastLine >= this.everyMs || done === total) {
      this.lastLine = now;
      const eta = rate > 0 ? (total - done) / rate : Number.NaN;
      this.write(
        `${this.label}: ${done}/${total} ${this.unit} (${total > 0 ? ((100 * done) / total).toFixed(1) : "100"}%) ` +
          `${Math.round(rate)} ${this.unit}/s elapsed ${formatSeconds(elapsed)} ETA ${formatSeconds(eta)}`,
      );
    }
  }

  message(line: string): void {
    if (this.bar && this.started) {
      this.bar.stop();
      this.write(line);
      this.bar.start(this.total, this.bar.getProgress() * this.total, {});
    } else this.write(line);
  }

  stop(): void {
    this.bar?.stop();
  }
}
