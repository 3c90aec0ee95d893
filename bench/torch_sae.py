#!/usr/bin/env python3
"""PyTorch CPU peer of `msae bench sae`: tokens/s of one full SAE training step, float32.

The math is tools/golden/sae_math.py (the same module the float64 golden reference runs; DESIGN.md
s.2 + notes/sae-pins.md), with torch.topk for the selections (stable=False: ties have measure 0).

ONE STEP (what the TypeScript side must match) for one micro-batch x [B, d] (float32):
  1. forward of the architecture: codes, x^, every loss part (recon, sparsity, ortho, aux), L0;
     the paper archs' orthogonality term ||M o (W_dec W_dec^T - I)||_F; for adaptive, attention,
     multiscale the EMA co-activation update E <- 0.99 E + 0.01 (C - 0.1) from the detached codes
     (C = dense h'^T h' over the batch, normalized), then M = [E > 0] used in the same loss;
     AuxK for topk / batchtopk / matryoshka (dead mask below, auxK = d / 2, coef 1/32); codes are
     dense [B, m] tensors (as SAELens); matryoshka decodes its 5 prefixes cumulatively (one full
     decode in all);
  2. backward of the total (autograd), every parameter's gradient;
  3. clip the global gradient norm at 1.0 (torch.nn.utils.clip_grad_norm_);
  4. AdamW (torch.optim.AdamW, betas 0.9 / 0.999, eps 1e-8, weight decay 1e-4 on the weight matrices
     W_enc, W_dec, attn_WQ, attn_K only, 0 elsewhere; lr 3e-7 = the first warmup step's 3e-4 / 1000,
     so that a few steps from the init keep the generator's density: the lr does not change the work);
  5. the state updates: coact_ema, run_mean / run_var (adaptive+), the batchtopk / matryoshka
     threshold EMA; every loss part and L0 read back as Python floats (as a training log does).
  Not in the step: gradient accumulation (one micro-batch = one optimizer step), feature-importance
  gradient scaling, dead-feature reactivation, the learning-rate schedule.
tokens/s = B * steps / (wall time of `steps` timed steps after `warmup` untimed ones).

CASES (name = "<arch>/d<d>/m<m>/b<B>"):
  every architecture at the paper's shape d = m = 2304, B = 2048 (TopK family: k = 32, the
  DESIGN.md default), and topk, batchtopk, matryoshka at d = 512, m = 16384, k = 32, B = 4096.

INPUTS (seeded, torch.Generator seed 1234 + case index; the values matter only through the density):
  x = (z + o) * s, z ~ N(0, 1) [B, d], o ~ 0.5 N(0, 1) [d], s = exp(0.4 N(0, 1)) [B, 1], then scaled
  so that mean_b ||x||^2 = d. Init as DESIGN.md s.2: W_dec ~ N(0, 1/d) [m, d], W_enc = W_dec^T,
  b_dec = mean_b x, attn_WQ, attn_K ~ N(0, 1/d), attn_alpha = 1, ln_gamma = ms_gamma = 1,
  ln_beta = ms_beta = ms_w = adapt_rho = 0, run_mean = 0, run_var = 1, coact_ema = 0; jumprelu
  threshold = 0.001; gated r_mag = 0.
  Density as a trained SAE has: for every non-TopK architecture the encoder bias (b_enc; gated:
  b_gate and b_mag) is set to minus the 90th percentile over the batch of each feature's
  pre-activation computed with a zero bias, so each feature fires on ~10% of the tokens and
  L0 ~ 10% of m (printed per case). TopK family: b_enc = 0, L0 = k; dead mask = features with
  i % 4 == 3 (m / 4 dead, so AuxK runs with k_aux = min(d / 2, m / 4)); threshold starts at 0.

OpenBLAS core: --core installed (the environment as it is), --core widest (the widest kernel
family the CPU flags allow that this OpenBLAS accepts and that passes a GEMM check against
float64; the script re-executes itself with OPENBLAS_CORETYPE set), or --core NAME.
--list-cores prints the probe of every candidate. Threads: torch.set_num_threads(--threads), and
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS = --threads, OMP_WAIT_POLICY = passive unless already set.

Usage: torch_sae.py [--threads N] [--arch a,b,..] [--shape paper|wide|all] [--steps S]
                    [--warmup W] [--core installed|widest|NAME] [--json] [--list-cores] [--serve]
Prints one line per case (tokens/s) and the torch / BLAS configuration, or with --json one JSON
object on stdout: {"torch", "threads", "blas", "openblas_core", "openblas_coretype", "config",
"cases": [{"name", "arch", "d", "m", "batch", "k", "steps", "tok_s", "step_s", "cpu_util", "l0",
"l0_frac", "loss": {...}}], "core_requested"}. cpu_util = process CPU time / (wall * threads).
Exits with status 3 and one JSON line {"error": ...} when torch cannot be imported.

SERVE (for `msae bench sae`, which alternates msae and torch case by case): with --serve (and
--threads, --core) the script prints {"ready": true, "torch", "threads", "blas", "openblas_core",
"openblas_coretype", "config"}, then answers each stdin line
    run ARCH D M BATCH K STEPS WARMUP SEED [DIR]   -> one case row as above (or {"error": ...})
    quit
with one JSON line. The batch mode uses SEED = 1234 + the case's index in the list above.
FILES: with DIR, SEED is unused and the inputs are read from DIR instead (what `msae bench sae`
does, so both sides start from bit-identical tensors; bench/sae-inputs.ts documents that
generator, the same recipe as INPUTS with msae's Rng): raw little-endian float32 x.f32 [B, d],
W_enc.f32 [d, m], W_dec.f32 [m, d], b_dec.f32 [d], and where the arch has them b_enc.f32,
b_gate.f32, b_mag.f32 [m], attn_WQ.f32 [d, d/4], attn_K.f32 [m, d/4]; dead.u8 [m] (0/1) for the
TopK family. Every other tensor starts at the init above. Each row also carries "first_loss":
the loss parts and L0 of the first step (before any update), which msae compares with its own.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(os.path.dirname(HERE), "tools", "golden")

ALL_ARCHS = (
    "base", "layernorm", "adaptive", "attention", "multiscale",
    "relu", "topk", "batchtopk", "jumprelu", "gated", "matryoshka",
)  # fmt: skip
TOPK_FAMILY = ("topk", "batchtopk", "matryoshka")

# OpenBLAS x86-64 kernel families, widest first, with the /proc/cpuinfo flags each needs.
CORE_CANDIDATES = (
    ("SapphireRapids", ("avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_fp16", "amx_tile")),
    ("Cooperlake", ("avx512f", "avx512bw", "avx512vl", "avx512_bf16")),
    ("SkylakeX", ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd")),
    ("Zen", ("avx2", "fma", "AuthenticAMD")),
    ("Haswell", ("avx2", "fma")),
    ("SandyBridge", ("avx",)),
    ("Nehalem", ("sse4_2",)),
    ("Prescott", ("pni",)),  # pni = SSE3
)


def cpu_flags():
    """Flags of the first CPU in /proc/cpuinfo plus its vendor id (empty set off Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return set()
    flags, vendor = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "flags" and flags is None:
            flags = set(value.split())
        elif key == "vendor_id":
            vendor = {value.strip()}
    return (flags or set()) | vendor


def probe_core(name):
    """Runs this script with OPENBLAS_CORETYPE=name (or as installed for None); returns its probe JSON."""
    env = dict(os.environ)
    if name is not None:
        env["OPENBLAS_CORETYPE"] = name
    r = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--probe"], env=env, capture_output=True, text=True, timeout=300
    )
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": (r.stderr.strip().splitlines() or ["no output"])[-1]}


def widest_core(log):
    """The first candidate (widest first) the CPU flags allow, this OpenBLAS runs by that name, and that computes right."""
    flags = cpu_flags()
    for name, needs in CORE_CANDIDATES:
        if not all(f in flags for f in needs):
            continue
        p = probe_core(name)
        got = p.get("openblas_core") or ""
        if got.lower() == name.lower() and p.get("gemm_ok"):
            return name, p
        log(f"core {name}: not usable (OpenBLAS runs {got or '?'}, gemm_ok {p.get('gemm_ok')})")
    return None, None


def probe_main():
    """Child of probe_core: the OpenBLAS core this process runs and a GEMM check against float64."""
    import torch

    g = torch.Generator().manual_seed(7)
    a = torch.randn(301, 257, generator=g)
    b = torch.randn(257, 263, generator=g)
    c = a @ b
    ref = a.double() @ b.double()
    err = ((c.double() - ref).abs().max() / ref.abs().max()).item()
    print(json.dumps({"openblas_core": blas_core(), "gemm_rel_err": err, "gemm_ok": err < 1e-5}))


def blas_core():
    """The OpenBLAS kernel family this process runs (Debian's torch loads OpenBLAS through libblas.so.3)."""
    import ctypes

    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def read_f32(torch, path, shape):
    """A raw little-endian float32 file as a tensor of `shape` (one error line when it does not fit)."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    n = 1
    for v in shape:
        n *= v
    if len(data) != 4 * n:
        raise ValueError(f"{path}: {len(data)} bytes; expected {4 * n} (float32 {list(shape)})")
    return torch.frombuffer(data, dtype=torch.float32).reshape(shape).clone()


def load_inputs(torch, arch, d, m, batch, folder):
    """The tensors `msae bench sae` wrote (bench/sae-inputs.ts): name -> tensor, and the dead mask or None."""
    shapes = {"x": (batch, d), "W_enc": (d, m), "W_dec": (m, d), "b_dec": (d,), "b_enc": (m,), "b_gate": (m,)}
    shapes.update({"b_mag": (m,), "attn_WQ": (d, d // 4), "attn_K": (m, d // 4)})
    out = {}
    for name, shape in shapes.items():
        path = os.path.join(folder, name + ".f32")
        if os.path.exists(path):
            out[name] = read_f32(torch, path, shape)
    dead = None
    path = os.path.join(folder, "dead.u8")
    if os.path.exists(path):
        with open(path, "rb") as f:
            raw = bytearray(f.read())
        if len(raw) != m:
            raise ValueError(f"{path}: {len(raw)} bytes; expected {m}")
        dead = torch.frombuffer(raw, dtype=torch.uint8).to(torch.float32).clone()
    return out, dead


def make_case(sm, torch, arch, d, m, batch, k, seed, folder=None):
    """(hyper, params, state, x, dead) of one benchmark case (generator in the header; FILES with a folder)."""
    if folder is not None:
        return files_case(sm, torch, arch, d, m, batch, k, folder)
    g = torch.Generator().manual_seed(seed)
    f32 = torch.float32
    z = torch.randn(batch, d, generator=g)
    o = 0.5 * torch.randn(d, generator=g)
    s = torch.exp(0.4 * torch.randn(batch, 1, generator=g))
    x = (z + o) * s
    x = x * (d / (x * x).sum(1).mean()).sqrt()
    hy = sm.default_hyper(arch, d, m, k=k, auxK=d // 2)
    w_dec = torch.randn(m, d, generator=g) / d**0.5
    P = {"W_enc": w_dec.t().contiguous()}
    if arch == "gated":
        P["b_gate"] = torch.zeros(m)
        P["r_mag"] = torch.zeros(m)
        P["b_mag"] = torch.zeros(m)
    else:
        P["b_enc"] = torch.zeros(m)
    P["W_dec"] = w_dec
    P["b_dec"] = x.mean(0)
    if arch in ("layernorm", "adaptive", "attention"):
        P["ln_gamma"] = torch.ones(d)
        P["ln_beta"] = torch.zeros(d)
    if arch in sm.ADAPTIVE:
        P["adapt_rho"] = torch.zeros(())
    if arch in sm.ATTENTION:
        P["attn_WQ"] = torch.randn(d, d // 4, generator=g) / d**0.5
        P["attn_K"] = torch.randn(m, d // 4, generator=g) / d**0.5
        P["attn_alpha"] = torch.ones(())
    if arch == "multiscale":
        P["ms_gamma"] = torch.ones(4, d)
        P["ms_beta"] = torch.zeros(4, d)
        P["ms_w"] = torch.zeros(4)
    if arch == "jumprelu":
        P["threshold"] = torch.full((m,), hy["jumpInitThreshold"])
    S = {}
    if arch in sm.ADAPTIVE:
        S = {"coact_ema": torch.zeros(m, m), "run_mean": torch.zeros(d), "run_var": torch.ones(d)}
    if arch in ("batchtopk", "matryoshka"):
        S["threshold"] = torch.zeros(m)
    dead = None
    if arch in TOPK_FAMILY:
        dead = (torch.arange(m) % 4 == 3).to(f32)
    else:
        with torch.no_grad():
            pre = sm.forward(arch, hy, P, S, x, None, stable=False)["pre"]
            bias = -torch.quantile(pre, 0.9, dim=0) if pre.numel() < 2**24 else -pre.kthvalue(int(0.9 * batch), 0).values
        if arch == "gated":
            P["b_gate"], P["b_mag"] = bias.clone(), bias.clone()
        else:
            P["b_enc"] = bias
    return hy, P, S, x, dead


def files_case(sm, torch, arch, d, m, batch, k, folder):
    """make_case's structure with x, the weights, the biases and the dead mask read from `folder`."""
    hy, P, S, x, dead = make_case(sm, torch, arch, d, m, 8, k, 0)  # the init of every other tensor
    t, dead_f = load_inputs(torch, arch, d, m, batch, folder)
    x = t.pop("x")
    for name, v in t.items():
        if name not in P:
            raise ValueError(f"{folder}: {name}.f32 is not a parameter of {arch}")
        P[name] = v
    if arch in TOPK_FAMILY:
        dead = dead_f
    return hy, P, S, x, dead


class Trainer:
    """One SAE's training step (header, ONE STEP)."""

    def __init__(self, sm, torch, arch, hy, P, S, dead):
        self.sm, self.torch, self.arch, self.hy, self.dead = sm, torch, arch, hy, dead
        self.P = {k: torch.nn.Parameter(v) for k, v in P.items()}
        self.S = S
        matrices = ("W_enc", "W_dec", "attn_WQ", "attn_K")
        decay = [p for n, p in self.P.items() if n in matrices]
        rest = [p for n, p in self.P.items() if n not in matrices]
        self.params = list(self.P.values())
        self.opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": 1e-4}, {"params": rest, "weight_decay": 0.0}],
            lr=3e-7,
            betas=(0.9, 0.999),
            eps=1e-8,
        )

    def step(self, x):
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        o = self.sm.forward(self.arch, self.hy, self.P, self.S, x, self.dead, stable=False)
        o["total"].backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        with torch.no_grad():
            for k, v in o["state_after"].items():
                self.S[k] = v.detach()
        loss = {p: float(o[p]) for p in ("recon", "sparsity", "ortho", "aux", "total")}
        return loss, o["l0"]


def case_list(archs, shape):
    out = []
    for a in archs:
        if shape in ("paper", "all"):
            out.append((a, 2304, 2304, 2048, 32))
    for a in archs:
        if shape in ("wide", "all") and a in TOPK_FAMILY:
            out.append((a, 512, 16384, 4096, 32))
    return out


def setup(threads):
    """Imports torch and the shared math; (torch, sae_math, head) with the torch / BLAS configuration."""
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install raising something else
        print(json.dumps({"error": f"cannot import torch: {type(e).__name__}: {e}".splitlines()[0]}))
        sys.exit(3)
    sys.path.insert(0, GOLDEN)
    import sae_math as sm

    torch.set_num_threads(threads)
    config = torch.__config__.show()
    blas = next((p.split("=", 1)[1] for p in config.replace(",", " ").split() if p.startswith("BLAS_INFO=")), None)
    head = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas,
        "openblas_core": blas_core(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "config": config.strip(),
    }
    return torch, sm, head


def run_case(sm, torch, threads, arch, d, m, batch, k, steps, warmup, seed, folder=None):
    """Times `steps` training steps after `warmup` untimed ones; the result row (header, --json)."""
    hy, P, S, x, dead = make_case(sm, torch, arch, d, m, batch, k, seed, folder)
    tr = Trainer(sm, torch, arch, hy, P, S, dead)
    first = None
    for _ in range(warmup):
        loss, l0 = tr.step(x)
        first = first or {**loss, "l0": l0}
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss, l0 = tr.step(x)
        first = first or {**loss, "l0": l0}
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "name": f"{arch}/d{d}/m{m}/b{batch}",
        "arch": arch,
        "d": d,
        "m": m,
        "batch": batch,
        "k": k if arch in TOPK_FAMILY else None,
        "steps": steps,
        "tok_s": batch * steps / dt,
        "step_s": dt / steps,
        # process CPU seconds / (wall seconds * threads): well below 1 means the machine was busy
        "cpu_util": cpu / (dt * threads),
        "l0": l0,
        "l0_frac": l0 / m,
        "loss": loss,
        "first_loss": first,
    }


def format_row(row):
    return (
        f"{row['name']:32s} {row['tok_s']:10.0f} tok/s  {row['step_s'] * 1e3:8.1f} ms/step  "
        f"L0 {row['l0']:7.1f} ({100 * row['l0_frac']:.1f}% of m)  cpu {row['cpu_util']:.2f}"
    )


def bench_main(args, log):
    torch, sm, head = setup(args.threads)
    log(f"torch {head['torch']}, {head['threads']} threads, BLAS {head['blas']}, OpenBLAS core {head['openblas_core']}")
    log(f"OPENBLAS_CORETYPE={head['openblas_coretype'] or 'unset'}")
    head["cases"] = []
    for i, (arch, d, m, batch, k) in enumerate(case_list(args.arch, args.shape)):
        row = run_case(sm, torch, args.threads, arch, d, m, batch, k, args.steps, args.warmup, 1234 + i)
        head["cases"].append(row)
        log(format_row(row))
    return head


def serve_main(args):
    """--serve: {"ready": true, ...head} then one JSON line per stdin command (header, SERVE)."""
    torch, sm, head = setup(args.threads)
    reply = lambda obj: (sys.stdout.write(json.dumps(obj) + "\n"), sys.stdout.flush())  # noqa: E731
    reply({"ready": True, **head})
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            break
        if cmd[0] != "run" or len(cmd) not in (9, 10):
            reply({"error": f"bad command {line.strip()!r}; expected: run ARCH D M BATCH K STEPS WARMUP SEED [DIR], or quit"})
            continue
        arch = cmd[1]
        if arch not in ALL_ARCHS:
            reply({"error": f"unknown arch {arch!r}; expected one of {', '.join(ALL_ARCHS)}"})
            continue
        try:
            d, m, batch, k, steps, warmup, seed = (int(v) for v in cmd[2:9])
            folder = cmd[9] if len(cmd) == 10 else None
            reply(run_case(sm, torch, args.threads, arch, d, m, batch, k, steps, warmup, seed, folder))
        except Exception as e:  # a bad shape or out of memory: one line, the peer stays up
            reply({"error": f"{arch}: {type(e).__name__}: {e}".splitlines()[0]})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--arch", default=",".join(ALL_ARCHS), help="comma-separated architectures (default: all)")
    ap.add_argument("--shape", choices=("paper", "wide", "all"), default="all")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--core", default="installed", help="installed | widest | an OpenBLAS core name")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--list-cores", action="store_true", help="probe every candidate OpenBLAS core and exit")
    ap.add_argument("--serve", action="store_true", help="answer `run ...` commands on stdin (header, SERVE)")
    ap.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        probe_main()
        return
    quiet = args.json or args.serve  # stdout carries JSON only
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if quiet else (lambda s: print(s, flush=True))
    if args.list_cores:
        flags = cpu_flags()
        rows = [{"core": None, **probe_core(None)}]
        for name, needs in CORE_CANDIDATES:
            if all(f in flags for f in needs):
                rows.append({"core": name, **probe_core(name)})
        print(json.dumps(rows, indent=None if args.json else 1))
        return
    args.arch = [a.strip() for a in args.arch.split(",") if a.strip()]
    bad = [a for a in args.arch if a not in ALL_ARCHS]
    if bad:
        ap.error(f"--arch {','.join(bad)}: unknown; expected a comma-separated subset of {', '.join(ALL_ARCHS)}")
    if args.threads < 1 or args.steps < 1 or args.warmup < 0:
        ap.error("--threads and --steps must be >= 1, --warmup >= 0")
    if args.core != "installed" and os.environ.get("MSAE_TORCH_SAE_CORE_SET") is None:
        name = args.core
        if name == "widest":
            name, _ = widest_core(log)
            if name is None:
                log("no OpenBLAS core candidate passed; running as installed")
        if name is not None:
            env = {**os.environ, "OPENBLAS_CORETYPE": name, "MSAE_TORCH_SAE_CORE_SET": "1"}
            os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # as msae's addon and bench/lm-torch.ts
    if args.serve:
        serve_main(args)
        return
    result = bench_main(args, log)
    result["core_requested"] = args.core
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
