/**
 * Headless Chromium for e2e tests: Debian's /usr/bin/chromium driven by playwright-core, launched
 * with the flags this closed network needs (no background networking). `browserOrSkip` returns
 * null with a reason when chromium is not installed, unless CI is set (there .ci/run installs it,
 * so its absence is a failure).
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = process.env.MSAE_CHROMIUM ?? "/usr/bin/chromium";

export async function launchBrowser(): Promise<Browser | string> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) throw new Error(`${CHROMIUM} is missing; .ci/run installs Debian's chromium`);
    return `${CHROMIUM} not installed (apt-get install chromium)`;
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}
