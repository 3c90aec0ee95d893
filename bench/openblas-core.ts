/**
 * The PyTorch peer at its best (DESIGN.md s.6): some OpenBLAS builds misdetect new CPUs and fall
 * back to a narrow kernel family, so every benchmark with a torch column runs the peer as
 * installed AND with the widest OpenBLAS x86-64 core family that
 *   1. the CPU's /proc/cpuinfo flags allow (CORE_CANDIDATES, widest first),
 *   2. this OpenBLAS accepts by that name (openblas_get_corename() in a child started with
 *      OPENBLAS_CORETYPE=<name> reports it back), and
 *   3. computes right: a float32 GEMM [301, 257] x [257, 263] in torch against float64,
 *      max |err| / max |ref| < 1e-5,
 * prints both with the kernel names and takes the ratio against the faster.
 * The same logic lives in bench/torch_sae.py (--core widest) for standalone runs.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** OpenBLAS x86-64 kernel families, widest first, with the /proc/cpuinfo flags each needs. */
export const CORE_CANDIDATES: readonly { name: string; needs: readonly string[] }[] = [
  {
    name: "SapphireRapids",
    needs: ["avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_fp16", "amx_tile"],
  },
  { name: "Cooperlake", needs: ["avx512f", "avx512bw", "avx512vl", "avx512_bf16"] },
  { name: "SkylakeX", needs: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"] },
  { name: "Zen", needs: ["avx2", "fma", "AuthenticAMD"] },
  { name: "Haswell", needs: ["avx2", "fma"] },
  { name: "SandyBridge", needs: ["avx"] },
  { name: "Nehalem", needs: ["sse4_2"] },
  { name: "Prescott", needs: ["pni"] },
];

/** Flags of the first CPU in a /proc/cpuinfo text, plus its vendor id (empty set when absent). */
export function parseCpuFlags(cpuinfo: string): Set<string> {
  let flags: string[] | null = null;
  let vendor: string | null = null;
  for (const line of cpuinfo.split("\n")) {
    const at = line.indexOf(":");
    if (at < 0) continue;
    const key = line.slice(0, at).trim();
    const value = line.slice(at + 1);
    if (key === "flags" && flags === null) flags = value.split(/\s+/).filter(Boolean);
    else if (key === "vendor_id" && vendor === null) vendor = value.trim();
  }
  const out = new Set(flags ?? []);
  if (vendor) out.add(vendor);
  return out;
}

export function cpuFlags(): Set<string> {
  try {
    return parseCpuFlags(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    return new Set();
  }
}

/** The candidates the flags allow, widest first. */
export function allowedCores(flags: ReadonlySet<string>): string[] {
  return CORE_CANDIDATES.filter((c) => c.needs.every((f) => flags.has(f))).map((c) => c.name);
}

const PROBE = `
import ctypes, json, torch
g = torch.Generator().manual_seed(7)
a = torch.randn(301, 257, generator=g); b = torch.randn(257, 263, generator=g)
ref = a.double() @ b.double()
err = ((a @ b).double() - ref).abs().max().item() / ref.abs().max().item()
try:
    lib = ctypes.CDLL("libopenblas.so.0"); lib.openblas_get_corename.restype = ctypes.c_char_p
    core = lib.openblas_get_corename().decode()
except (OSError, AttributeError):
    core = None
print(json.dumps({"openblas_core": core, "gemm_rel_err": err, "gemm_ok": err < 1e-5}))
`;

export interface CoreProbe {
  /** The OPENBLAS_CORETYPE asked for (null = as installed). */
  requested: string | null;
  /** What openblas_get_corename() reported (null: not an OpenBLAS, or the probe failed). */
  openblas_core: string | null;
  gemm_ok: boolean;
  error?: string;
}

/** Runs the probe in `python` with OPENBLAS_CORETYPE = name (null: the environment as it is). */
export function probeCore(python: string, name: string | null): CoreProbe {
  const env = { ...process.env };
  if (name !== null) env.OPENBLAS_CORETYPE = name;
  const r = spawnSync(python, ["-c", PROBE], { env, encoding: "utf8", timeout: 180_000 });
  const last = (s: string | null | undefined) => (s ?? "").trim().split("\n").pop() ?? "";
  try {
    const p = JSON.parse(last(r.stdout)) as { openblas_core: string | null; gemm_ok: boolean };
    return { requested: name, openblas_core: p.openblas_core, gemm_ok: p.gemm_ok === true };
  } catch {
    const why = r.error ? r.error.message : last(r.stderr) || `exit ${r.status}`;
    return { requested: name, openblas_core: null, gemm_ok: false, error: why };
  }
}

export interface PeerCores {
  /** The core the peer runs as installed (null when not OpenBLAS or unknown). */
  installed: string | null;
  /** The widest usable core (null when none passed; then only the installed run counts). */
  widest: string | null;
  /** One line per candidate that was tried and rejected. */
  rejected: string[];
}

/**
 * The installed core and the widest candidate that passes (file header). When the widest passing
 * candidate is the installed core itself, `widest` is still reported (the two runs then measure
 * the same kernels, and the bench may run it once).
 */
export function choosePeerCores(
  python: string,
  flags: ReadonlySet<string> = cpuFlags(),
  probe: (python: string, name: string | null) => CoreProbe = probeCore,
): PeerCores {
  const installed = probe(python, null).openblas_core;
  const rejected: string[] = [];
  for (const name of allowedCores(flags)) {
    const p = probe(python, name);
    if ((p.openblas_core ?? "").toLowerCase() === name.toLowerCase() && p.gemm_ok)
      return { installed, widest: name, rejected };
    rejected.push(
      `OpenBLAS core ${name}: not usable (runs ${p.openblas_core ?? "?"}, GEMM check ${p.gemm_ok ? "ok" : "failed"}${p.error ? `, ${p.error}` : ""})`,
    );
  }
  return { installed, widest: null, rejected };
}

/** The environment for a peer run: `core` null = as installed, else OPENBLAS_CORETYPE = core. */
export function peerEnv(core: string | null, threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OMP_NUM_THREADS: `${threads}`,
    OPENBLAS_NUM_THREADS: `${threads}`,
    OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? "passive",
  };
  // OPENBLAS_THREAD_TIMEOUT (msae's default or the user's) is passed on with process.env: the peer
  // is faster with it too (bench train: torch 2200 -> 2392 tok/s; bench sae: base 3302 -> 3562).
  if (core !== null) env.OPENBLAS_CORETYPE = core;
  return env;
}
