#!/usr/bin/env python3
"""Independent float64 PyTorch reference of the SAE family; writes test/golden/sae/*.safetensors.

Regenerate (Debian's torch; not run by npm test):

    /usr/bin/python3 tools/golden/sae_reference.py            # checks, then writes test/golden/sae/
    /usr/bin/python3 tools/golden/sae_reference.py --check    # checks only

The math is tools/golden/sae_math.py (DESIGN.md s.2 + notes/sae-pins.md, written from the text,
not from msae's TypeScript). Before writing, this script checks its own reference:
  - autograd gradients of every case against float64 central finite differences (jumprelu's
    threshold, straight-through by definition, against its closed form instead);
  - the EMA co-activation mask on a hand-made 3x3 case against numbers worked out by hand;
  - FrobNorm's gradient with torch.autograd.gradcheck and its 0 at A = 0;
  - every case's forward values (codes, recon, loss parts, L0, state_after) against a second,
    plain-numpy reading of the spec (tools/golden/sae_numpy_check.py, per-token loops, no torch).

Golden file format (notes/sae-pins.md): all tensors F64; d = 16, m = 64, B = 24, k = 4, auxK = 8,
l1 = 0.05, l2 = 0.1, aux_k_coef = 1/32, eps = 1e-5.
  x [B, d]; param.<name>; state.<name> (buffers before the step; state.dead [m] for the TopK
  family); out.codes [B, m] (h'), out.recon [B, d]; loss.{recon,sparsity,ortho,aux,total,l0} [1];
  grad.<name> = d total / d param; state_after.<name>.
  __metadata__: case, arch, hyper (JSON of the SaeHyper fields), steps.
Cases: every arch; <arch>-paper (reconstruct "paper") for layernorm, adaptive, attention,
multiscale; adaptive-3step: three micro-batches x0, x1, x2 (no `x`) with the same parameters and
the state carried from one to the next: state.* is the state before x0, state_after.* after x2,
out.*, loss.* and grad.* belong to the last micro-batch (x2).
Inputs are drawn (seed per case, re-drawn with the next seed when a margin fails) so that every
pre-activation is more than 1e-6 from its kink (0, the jumprelu threshold), TopK / BatchTopK /
AuxK selections have a gap > 1e-6 at the cut, and every off-diagonal E_new is more than 1e-6
from 0. jumprelu's thresholds are set so that some pre-activations fall inside the
straight-through window |pre - threshold| < bandwidth / 2 (a non-zero threshold gradient).
"""

import argparse
import json
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import sae_math as sm  # noqa: E402
import sae_numpy_check  # noqa: E402
from st_write import load_file, save_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
OUT_DIR = os.path.join(ROOT, "test", "golden", "sae")
F64 = torch.float64
D, M, B = 16, 64, 24
MARGIN = 1e-6


def golden_hyper(arch, reconstruct="denormalized"):
    return sm.default_hyper(
        arch, D, M, k=4, auxK=8, l1=0.05, l2=0.1, reconstruct=reconstruct
    )


def make_x(gen, rows):
    """Per-token scale and per-dimension offset (non-trivial LayerNorm statistics), then E||x||^2 = d."""
    z = torch.randn(rows, D, generator=gen, dtype=F64)
    offset = 0.5 * torch.randn(D, generator=gen, dtype=F64)
    scale = torch.exp(0.4 * torch.randn(rows, 1, generator=gen, dtype=F64))
    x = (z + offset) * scale
    return x * math.sqrt(D / (x * x).sum(1).mean())


def make_params(arch, gen):
    n = lambda *s: torch.randn(*s, generator=gen, dtype=F64)  # noqa: E731
    u = lambda lo, hi, *s: lo + (hi - lo) * torch.rand(*s, generator=gen, dtype=F64)  # noqa: E731
    P = {}
    w_dec = n(M, D) / math.sqrt(D)
    P["W_enc"] = w_dec.t().contiguous() + 0.1 * n(D, M) / math.sqrt(D)
    if arch == "gated":
        P["b_gate"] = 0.1 * n(M)
        P["r_mag"] = 0.1 * n(M)
        P["b_mag"] = 0.1 * n(M)
    else:
        P["b_enc"] = 0.1 * n(M)
    P["W_dec"] = w_dec
    P["b_dec"] = 0.1 * n(D)
    if arch in ("layernorm", "adaptive", "attention"):
        P["ln_gamma"] = 1 + 0.1 * n(D)
        P["ln_beta"] = 0.1 * n(D)
    if arch in sm.ADAPTIVE:
        P["adapt_rho"] = n(())
    if arch in sm.ATTENTION:
        P["attn_WQ"] = n(D, D // 4) / math.sqrt(D)
        P["attn_K"] = 0.5 * n(M, D // 4)
        P["attn_alpha"] = 1 + 0.2 * n(())
    if arch == "multiscale":
        P["ms_gamma"] = 1 + 0.1 * n(4, D)
        P["ms_beta"] = 0.1 * n(4, D)
        P["ms_w"] = n(4)
    if arch == "jumprelu":
        P["threshold"] = u(0.05, 0.3, M)
    assert list(P) == sorted(P, key=sm.param_names(arch).index)
    return P


def make_state(arch, gen):
    S = {}
    if arch in sm.ADAPTIVE:
        e = 0.05 * (2 * torch.rand(M, M, generator=gen, dtype=F64) - 1)
        e = torch.triu(e, 1)
        S["coact_ema"] = e + e.t()
        S["run_mean"] = 0.1 * torch.randn(D, generator=gen, dtype=F64)
        S["run_var"] = 0.5 + torch.rand(D, generator=gen, dtype=F64)
    if arch in ("batchtopk", "matryoshka"):
        S["threshold"] = 0.05 + 0.25 * torch.rand(M, generator=gen, dtype=F64)
    return S


def make_dead(arch, gen):
    if arch not in sm.TOPK_FAMILY:
        return None
    dead = torch.zeros(M, dtype=F64)
    dead[torch.randperm(M, generator=gen)[: M // 4]] = 1.0
    return dead


def cut_gap(v, k):
    """Gap at the top-k cut of each row of v [R, n] (inf when the (k+1)-th is 0: ties of zeros are harmless)."""
    s = torch.sort(v, dim=1, descending=True).values
    if k >= s.shape[1]:
        return math.inf
    below = s[:, k]
    gap = s[:, k - 1] - below
    return float(torch.where(below > 0, gap, torch.full_like(gap, math.inf)).min())


def margins_ok(arch, hy, P, S, x, dead, o):
    pre = o["pre"].detach()
    if arch == "jumprelu":
        if (pre - P["threshold"]).abs().min() <= MARGIN:
            return False
    elif pre.abs().min() <= MARGIN:
        return False
    if "pre_mag" in o and o["pre_mag"].detach().abs().min() <= MARGIN:
        return False
    r = torch.relu(pre)
    if arch == "topk" and cut_gap(r, hy["k"]) <= MARGIN:
        return False
    if arch in ("batchtopk", "matryoshka") and cut_gap(r.reshape(1, -1), hy["k"] * x.shape[0]) <= MARGIN:
        return False
    if arch in sm.TOPK_FAMILY:
        idx = torch.nonzero(dead > 0.5).flatten()
        if cut_gap(r[:, idx], min(hy["auxK"], idx.numel())) <= MARGIN:
            return False
    if "e_new" in o:
        off = o["e_new"] + torch.eye(M, dtype=F64)  # diagonal does not matter
        if off.abs().min() <= MARGIN:
            return False
    return True


def place_jump_thresholds(P, pre, gen):
    """Moves 8 thresholds next to a pre-activation (inside the straight-through window, off the kink)."""
    bw = 0.001
    feats = torch.randperm(M, generator=gen)[:8]
    for j, i in enumerate(feats.tolist()):
        col = pre[:, i]
        cand = torch.nonzero((col > 0.06) & (col < 0.5)).flatten()
        if cand.numel() == 0:
            continue
        b = cand[0].item()
        side = 1.0 if j % 2 == 0 else -1.0
        P["threshold"][i] = col[b] + side * 0.3 * bw


def run(arch, hy, P, S, x, dead, frozen=None):
    Pg = {k: v.clone().requires_grad_(True) for k, v in P.items()}
    o = sm.forward(arch, hy, Pg, S, x, dead, frozen=frozen)
    return Pg, o


def grads(arch, hy, P, S, x, dead):
    Pg, o = run(arch, hy, P, S, x, dead)
    o["codes"].retain_grad()
    o["total"].backward()
    return {k: v.grad.detach().clone() for k, v in Pg.items()}, o


def check_fd(case, arch, hy, P, S, x, dead, G, o, gen, per_tensor=96):
    """Central differences (h = 1e-6) of total on up to `per_tensor` entries of every parameter."""
    frozen = {k: v.detach() for k, v in o["frozen"].items()}
    h = 1e-6
    worst = 0.0
    for name, p in P.items():
        if arch == "jumprelu" and name == "threshold":
            continue
        flat = p.reshape(-1)
        idx = torch.randperm(flat.numel(), generator=gen)[:per_tensor].tolist()
        for i in idx:
            vals = []
            for sgn in (1, -1):
                Q = {k: v.clone() for k, v in P.items()}
                Q[name].reshape(-1)[i] += sgn * h
                with torch.no_grad():
                    vals.append(sm.forward(arch, hy, Q, S, x, dead, frozen=frozen)["total"].item())
            fd = (vals[0] - vals[1]) / (2 * h)
            ag = G[name].reshape(-1)[i].item()
            err = abs(fd - ag) / (1e-6 + 1e-5 * abs(ag))  # roundoff of total (~1e2) / h ~ 2e-8
            worst = max(worst, abs(fd - ag) / (1e-6 + abs(ag)))
            assert err < 1, f"{case}: d total / d {name}[{i}]: autograd {ag!r}, finite difference {fd!r}"
    return worst


def check_jump_threshold(hy, P, G, o, x):
    """grad.threshold_i = sum_b dL/dh_bi * (-(t/bw) K) + l1/B sum_b (-(1/bw) K), K = [|pre - t| < bw/2]."""
    bw = hy["jumpBandwidth"]
    t = P["threshold"]
    pre = o["pre"].detach()
    k = ((pre - t).abs() < bw / 2).to(F64)
    dh = o["codes"].grad
    want = (dh * (-(t / bw)) * k).sum(0) + hy["l1"] / x.shape[0] * (-(1.0 / bw) * k).sum(0)
    assert torch.allclose(G["threshold"], want, rtol=1e-12, atol=1e-12), "jumprelu threshold gradient"
    assert (G["threshold"] != 0).sum() >= 4, "jumprelu golden case: too few thresholds inside the window"


def check_ema_closed_form():
    """3 features, 2 tokens: h = [[1, 0, 2], [0, 3, 2]]; numbers worked out by hand."""
    h = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 2.0]], dtype=F64)
    e0 = torch.tensor([[0.0, 0.0005, -0.003], [0.0005, 0.0, -0.01], [-0.003, -0.01, 0.0]], dtype=F64)
    # column norms 1, 3, sqrt(8); dot products h0.h1 = 0, h0.h2 = 2, h1.h2 = 6
    r8 = math.sqrt(8.0)
    c = [[1 / (1 + 1e-8), 0.0, 2 / (r8 + 1e-8)], [0.0, 9 / (9 + 1e-8), 6 / (3 * r8 + 1e-8)], [0.0, 0.0, 8 / (8 + 1e-8)]]
    c[2][0], c[2][1] = c[0][2], c[1][2]
    want_e = [[0.99 * e0[i][j].item() + 0.01 * (c[i][j] - 0.1) for j in range(3)] for i in range(3)]
    # E01 = 0.000495 - 0.001 < 0; E02 = -0.00297 + 0.01 (0.70711 - 0.1) > 0; E12 = -0.0099 + 0.00607 < 0
    want_m = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]], dtype=F64)
    e_new, mask = sm.ema_mask(e0, h, 0.99, 0.1)
    assert torch.allclose(e_new, torch.tensor(want_e, dtype=F64), rtol=0, atol=1e-15), e_new
    assert torch.equal(mask, want_m), mask
    # the penalty with this mask: W W^T - I masked, Frobenius norm
    w = torch.tensor([[1.0, 0.5], [0.5, -1.0], [0.2, 0.1]], dtype=F64)
    g = w @ w.t() - torch.eye(3, dtype=F64)
    want = math.sqrt(g[0, 0] ** 2 + g[1, 1] ** 2 + g[2, 2] ** 2 + 2 * g[0, 2] ** 2)
    assert abs(sm.ortho_penalty(w, mask).item() - want) < 1e-14


def check_frob_norm():
    a = torch.randn(5, 5, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(sm.FrobNorm.apply, (a,))
    z = torch.zeros(3, 3, dtype=F64, requires_grad=True)
    sm.FrobNorm.apply(z).backward()
    assert torch.equal(z.grad, torch.zeros(3, 3, dtype=F64))


def one_hot_tensor(v):
    return torch.tensor([float(v)], dtype=F64)


def build_case(case, arch, reconstruct, seed, steps=1):
    hy = golden_hyper(arch, reconstruct)
    for attempt in range(200):
        gen = torch.Generator().manual_seed(seed * 1000 + attempt)
        xs = [make_x(gen, B) for _ in range(steps)]
        P = make_params(arch, gen)
        S0 = make_state(arch, gen)
        dead = make_dead(arch, gen)
        if arch == "jumprelu":
            with torch.no_grad():
                pre = (xs[0] - P["b_dec"]) @ P["W_enc"] + P["b_enc"]
            place_jump_thresholds(P, pre, gen)
        S, ok = dict(S0), True
        for t in range(steps):
            with torch.no_grad():
                o = sm.forward(arch, hy, P, S, xs[t], dead)
            if not margins_ok(arch, hy, P, S, xs[t], dead, o):
                ok = False
                break
            if t < steps - 1:
                S = {**S, **o["state_after"]}
        if ok:
            break
    else:
        raise SystemExit(f"{case}: no draw met the margins in 200 attempts")
    x = xs[-1]
    G, o = grads(arch, hy, P, S, x, dead)
    worst = check_fd(case, arch, hy, P, S, x, dead, G, o, torch.Generator().manual_seed(seed))
    if arch == "jumprelu":
        check_jump_threshold(hy, P, G, o, x)
    T = {}
    if steps == 1:
        T["x"] = x
    else:
        for t, xt in enumerate(xs):
            T[f"x{t}"] = xt
    for k, v in P.items():
        T[f"param.{k}"] = v
    for k, v in S0.items():
        T[f"state.{k}"] = v
    if dead is not None:
        T["state.dead"] = dead
    T["out.codes"] = o["codes"].detach()
    T["out.recon"] = o["recon_x"].detach()
    for part in ("recon", "sparsity", "ortho", "aux", "total"):
        T[f"loss.{part}"] = o[part].detach().reshape(1)
    T["loss.l0"] = one_hot_tensor(o["l0"])
    for k, v in G.items():
        T[f"grad.{k}"] = v
    for k, v in o["state_after"].items():
        T[f"state_after.{k}"] = v.detach()
    T = {k: v.to(F64).contiguous() for k, v in T.items()}
    sae_numpy_check.check_case(case, hy, {k: v.numpy() for k, v in T.items()})
    meta = {"case": case, "arch": arch, "hyper": json.dumps(hy), "steps": str(steps)}
    parts = " ".join(f"{p} {o[p].item():.4g}" for p in ("recon", "sparsity", "ortho", "aux"))
    info = f"{case}: draw {attempt}, loss {o['total'].item():.6f} ({parts}), l0 {o['l0']:.2f}, fd worst |fd - ag| / (1e-6 + |ag|) {worst:.1e}"
    return T, meta, info


def cases():
    out = [(a, a, "denormalized", 1) for a in sm.ALL_ARCHS]
    out += [(f"{a}-paper", a, "paper", 1) for a in sm.NORMALIZED]
    out.append(("adaptive-3step", "adaptive", "denormalized", 3))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="run the checks, write nothing")
    args = ap.parse_args()
    torch.set_num_threads(1)
    check_frob_norm()
    check_ema_closed_form()
    print("closed-form EMA mask and FrobNorm checks passed")
    if not args.check:
        os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for i, (case, arch, recon, steps) in enumerate(cases()):
        T, meta, info = build_case(case, arch, recon, seed=101 + i, steps=steps)
        print(info)
        if args.check:
            continue
        path = os.path.join(OUT_DIR, f"{case}.safetensors")
        save_file(T, path, meta)
        back = load_file(path)
        assert all(torch.equal(back[k], T[k]) for k in T), f"{path}: read-back differs"
        total += os.path.getsize(path)
    if not args.check:
        print(f"wrote {len(cases())} files to {os.path.relpath(OUT_DIR, ROOT)} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
