"""A second, plain-numpy reading of DESIGN.md s.2 + notes/sae-pins.md (forward, loss parts, state).

Used by sae_reference.py to check every golden case's forward values (codes, recon, every loss
part, L0, state_after) against code that shares nothing with sae_math.py: per-token loops for the
selections, explicit sums, no torch. Gradients are checked separately by finite differences of
sae_math's forward, so together a golden file is pinned by two independent readings.
"""

import math

import numpy as np

SCALES = [0.1, 0.5, 1.0, 2.0]


def relu(v):
    return np.maximum(v, 0.0)


def softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


def token_norm_stats(arch, hy, T, xb):
    """mu, var (vectors over d) for one token xb [d]."""
    d = xb.shape[0]
    mu_t = xb.sum() / d
    var_t = ((xb - mu_t) ** 2).sum() / d
    if arch in ("adaptive", "attention", "multiscale"):
        a = 1.0 / (1.0 + math.exp(-float(T["param.adapt_rho"])))
        mu = a * mu_t + (1 - a) * T["state.run_mean"]
        var = a * var_t + (1 - a) * T["state.run_var"]
    else:
        mu = np.full(d, mu_t)
        var = np.full(d, var_t)
    return mu, var


def paper_forward(arch, hy, T, x):
    p = lambda n: T[f"param.{n}"]  # noqa: E731
    B, d = x.shape
    m = p("W_enc").shape[1]
    eps = hy["eps"]
    codes = np.zeros((B, m))
    recon = np.zeros((B, d))
    for b in range(B):
        xb = x[b]
        if arch == "base":
            pre = (xb - p("b_dec")) @ p("W_enc") + p("b_enc")
        else:
            mu, var = token_norm_stats(arch, hy, T, xb)
            if arch == "multiscale":
                w = softmax(p("ms_w"))
                n = sum(w[s] * (p("ms_gamma")[s] * (xb - mu) / np.sqrt(sc * var + eps) + p("ms_beta")[s]) for s, sc in enumerate(SCALES))
            else:
                n = p("ln_gamma") * (xb - mu) / np.sqrt(var + eps) + p("ln_beta")
            pre = n @ p("W_enc") + p("b_enc")
        h = relu(pre)
        if arch in ("attention", "multiscale"):
            dk = d // 4
            q = n @ p("attn_WQ")
            scores = np.array([float(p("attn_alpha")) * (q @ p("attn_K")[i]) / math.sqrt(dk) for i in range(m)])
            h = h * m * softmax(scores)
        y = h @ p("W_dec") + p("b_dec")
        if arch != "base" and hy["reconstruct"] == "denormalized":
            y = np.sqrt(var + eps) * y + mu
        codes[b], recon[b] = h, y
    out = {"codes": codes, "recon_x": recon, "aux": 0.0}
    out["recon"] = ((x - recon) ** 2).sum() / B
    out["sparsity"] = hy["l1"] * np.abs(codes).sum() / B
    W = p("W_dec")
    gram = W @ W.T - np.eye(m)
    state = {}
    mask = np.ones((m, m))
    if arch in ("adaptive", "attention", "multiscale"):
        E = T["state.coact_ema"].copy()
        for i in range(m):
            for j in range(m):
                ci, cj = codes[:, i], codes[:, j]
                c = (ci * cj).sum() / (math.sqrt((ci * ci).sum()) * math.sqrt((cj * cj).sum()) + 1e-8)
                E[i, j] = hy["coactBeta"] * E[i, j] + (1 - hy["coactBeta"]) * (c - hy["coactTau"])
                mask[i, j] = 1.0 if (i == j or E[i, j] > 0) else 0.0
        rb = hy["runBeta"]
        state["coact_ema"] = E
        state["run_mean"] = rb * T["state.run_mean"] + (1 - rb) * x.mean(0)
        state["run_var"] = rb * T["state.run_var"] + (1 - rb) * ((x - x.mean(0)) ** 2).mean(0)
    out["ortho"] = hy["l2"] * math.sqrt(((mask * gram) ** 2).sum())
    out["state_after"] = state
    return out


def top_k_indices(values, k):
    """Indices of the k largest values (ties: lower index first), by an explicit ordering."""
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))
    return order[:k]


def baseline_forward(arch, hy, T, x):
    p = lambda n: T[f"param.{n}"]  # noqa: E731
    B, d = x.shape
    W_enc, W_dec, b_dec = p("W_enc"), p("W_dec"), p("b_dec")
    m = W_enc.shape[1]
    out = {"sparsity": 0.0, "ortho": 0.0, "aux": 0.0, "state_after": {}}
    if arch == "gated":
        xc = x - b_dec
        gate = xc @ W_enc + p("b_gate")
        mag = xc @ (W_enc * np.exp(p("r_mag"))[None, :]) + p("b_mag")
        codes = (gate > 0) * relu(mag)
        recon = codes @ W_dec + b_dec
        norms = np.sqrt((W_dec**2).sum(1))
        out["sparsity"] = hy["l1"] * (relu(gate) * norms[None, :]).sum() / B
        out["aux"] = ((x - (relu(gate) @ W_dec + b_dec)) ** 2).sum() / B
    else:
        pre = (x - b_dec) @ W_enc + p("b_enc")
        r = relu(pre)
        codes = np.zeros((B, m))
        if arch == "relu":
            codes = r
            norms = np.sqrt((W_dec**2).sum(1))
            out["sparsity"] = hy["l1"] * (r * norms[None, :]).sum() / B
        elif arch == "jumprelu":
            thr = p("threshold")
            codes = pre * (pre > thr)
            out["sparsity"] = hy["l1"] * (pre > thr).sum() / B
        elif arch == "topk":
            for b in range(B):
                for i in top_k_indices(list(r[b]), hy["k"]):
                    codes[b, i] = r[b, i]
        else:  # batchtopk, matryoshka
            flat = list(r.reshape(-1))
            for f in top_k_indices(flat, hy["k"] * B):
                codes[f // m, f % m] = flat[f]
            thr = T["state.threshold"].copy()
            for i in range(m):
                kept = [codes[b, i] for b in range(B) if codes[b, i] > 0]
                if kept:
                    thr[i] = hy["thresholdBeta"] * thr[i] + (1 - hy["thresholdBeta"]) * min(kept)
            out["state_after"] = {"threshold": thr}
        recon = codes @ W_dec + b_dec
        if arch == "matryoshka":
            ends, acc = [], 0
            for f in hy["matryoshkaFractions"]:
                acc += round(f * m)
                ends.append(acc)
            assert ends[-1] == m
            out["recon"] = sum(((x - (codes[:, :e] @ W_dec[:e] + b_dec)) ** 2).sum() / B for e in ends) / len(ends)
        if arch in ("topk", "batchtopk", "matryoshka") and hy["auxKCoef"] != 0:
            dead = [i for i in range(m) if T["state.dead"][i] > 0.5]
            if dead:
                k_aux = min(hy["auxK"], len(dead))
                err = x - recon
                total = 0.0
                for b in range(B):
                    vals = [r[b, i] for i in dead]
                    a = np.zeros(m)
                    for j in top_k_indices(vals, k_aux):
                        a[dead[j]] = vals[j]
                    total += ((err[b] - a @ W_dec) ** 2).sum()
                out["aux"] = hy["auxKCoef"] * min(len(dead) / hy["auxK"], 1.0) * total / B
    out["codes"], out["recon_x"] = codes, recon
    if "recon" not in out:
        out["recon"] = ((x - recon) ** 2).sum() / B
    return out


def check_case(case, hy, T, rtol=1e-10):
    """Recomputes one golden case's forward here and compares with the stored values."""
    arch = hy["arch"]
    T = {k: np.asarray(v, dtype=np.float64) for k, v in T.items()}
    if "x" in T:
        xs = [T["x"]]
    else:
        xs = [T[f"x{t}"] for t in range(len([k for k in T if k[0] == "x" and k[1:].isdigit()]))]
    fwd = paper_forward if arch in ("base", "layernorm", "adaptive", "attention", "multiscale") else baseline_forward
    state = {k: v for k, v in T.items() if k.startswith("state.")}
    for x in xs:
        o = fwd(arch, hy, {**T, **state}, x)
        for k, v in o["state_after"].items():
            state[f"state.{k}"] = v
    scale = lambda a: max(1.0, float(np.abs(a).max()))  # noqa: E731
    for name, mine in (("out.codes", o["codes"]), ("out.recon", o["recon_x"])):
        err = float(np.abs(mine - T[name]).max())
        assert err <= rtol * scale(T[name]), f"{case}: {name} differs from the numpy reading by {err}"
    o["total"] = o["recon"] + o["sparsity"] + o["ortho"] + o["aux"]
    o["l0"] = float((o["codes"] != 0).sum(1).mean())
    for part in ("recon", "sparsity", "ortho", "aux", "total", "l0"):
        want = float(T[f"loss.{part}"][0])
        assert abs(o[part] - want) <= rtol * max(1.0, abs(want)), f"{case}: loss.{part} {want} vs numpy {o[part]}"
    for k, v in o["state_after"].items():
        err = float(np.abs(v - T[f"state_after.{k}"]).max())
        assert err <= rtol * scale(v), f"{case}: state_after.{k} differs from the numpy reading by {err}"
