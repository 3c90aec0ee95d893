/**
 * Backend selection: `native` when the addon loads, else `ref` (one line on stderr says why).
 * MSAE_BACKEND=ref forces the ref backend.
 */
import type { Backend } from "../backend.ts";
import { loadAddon } from "./addon.ts";
import { NativeBackend } from "./native.ts";
import { RefBackend } from "./ref.ts";

let defaultBackend: Backend | undefined;

export const refBackend: Backend = new RefBackend();

/** The native backend, or null when the addon is unavailable. */
export function nativeBackend(): Backend | null {
  const addon = loadAddon();
  return addon ? new NativeBackend(addon) : null;
}

/** The best backend this process has. */
export function getBackend(name: "auto" | "native" | "ref" = "auto"): Backend {
  if (name === "ref") return refBackend;
  if (name === "native") {
    const nb = nativeBackend();
    if (!nb)
      throw new Error("the native backend is not available on this machine (see the line above); use --backend ref");
    return nb;
  }
  defaultBackend ??= nativeBackend() ?? refBackend;
  return defaultBackend;
}
