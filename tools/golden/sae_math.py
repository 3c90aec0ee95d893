"""The training forward of msae's eleven SAE architectures in plain PyTorch (any float dtype).

Written from /work/shared/DESIGN.md section 2 and the pins of notes/sae-pins.md alone (not from
msae's TypeScript). Shared by tools/golden/sae_reference.py (float64, autograd, golden files) and
bench/torch_sae.py (float32, the PyTorch peer of `msae bench sae`). Gradients come from autograd;
the only hand-written backwards are the straight-through JumpReLU / Step of `jumprelu` and the
Frobenius norm (its gradient is defined as 0 at A = 0).

Shapes: x [B, d]; W_enc [d, m], b_enc [m], W_dec [m, d], b_dec [d]; codes h' [B, m]. All losses
are means over the batch of per-token sums.

Paper archs (cumulative):
    base:       h = ReLU((x - b_dec) W_enc + b_enc);                  x^ = h W_dec + b_dec
    layernorm:  n = g (x - mu_t)/sqrt(var_t + eps) + b; h = ReLU(n W_enc + b_enc)
                x^ = sqrt(var + eps) (h' W_dec + b_dec) + mu   ("denormalized")
                x^ = h' W_dec + b_dec                            ("paper")
    adaptive:   mu = a mu_t + (1 - a) run_mean, var = a var_t + (1 - a) run_var, a = sigmoid(adapt_rho)
    attention:  h' = h * (m softmax_m(alpha (n W_Q) K^T / sqrt(d/4)))
    multiscale: n = sum_s softmax(ms_w)_s (ms_gamma[s] (x - mu)/sqrt(s var + eps) + ms_beta[s]),
                s in (0.1, 0.5, 1, 2); de-normalized with s = 1
    L = mean_b ||x - x^||^2 + l1 mean_b sum_i |h'_i| + l2 ||M o (W_dec W_dec^T - I)||_F
    M = 1 (base, layernorm); adaptive+: C_ij = h'_i.h'_j / (|h'_i||h'_j| + 1e-8) (columns, detached),
        E <- beta E + (1 - beta)(C - tau) first, then M_ij = [E_ij > 0] (i != j), M_ii = 1.
    After the forward: run_mean <- rb run_mean + (1 - rb) mean_b x; run_var likewise (biased var_b x).
Baselines, pre = (x - b_dec) W_enc + b_enc:
    relu:       h = ReLU(pre); sparsity = l1 mean_b sum_i h_i ||W_dec,i||
    topk:       h = the k largest of ReLU(pre) per token; batchtopk: the k B largest over the batch
                (ties: lower flat index first); matryoshka: batchtopk codes, recon = mean over the 5
                nested prefixes m_j of mean_b ||x - (h[:, :m_j] W_dec[:m_j] + b_dec)||^2
    AuxK (TopK family): k_aux = min(auxK, n_dead), e = sg(x - x^), a = the k_aux largest of ReLU(pre)
                over dead features, aux = coef min(n_dead / auxK, 1) mean_b ||e - a W_dec||^2
    batchtopk / matryoshka threshold_i <- tb threshold_i + (1 - tb) min kept activation of i (if any;
                           a threshold still 0 takes the min kept value itself: warm start)
    jumprelu:   h = pre [pre > threshold]; sparsity = l1 mean_b sum_i Step(pre_i - threshold_i),
                straight-through: dh/dthr = -(thr/bw) K((pre - thr)/bw), dStep/dthr = -(1/bw) K(.),
                K(u) = [|u| < 1/2], no gradient from Step to pre
    gated:      pi_gate = (x - b_dec) W_enc + b_gate; pi_mag = (x - b_dec)(W_enc o exp(r_mag)) + b_mag
                h = [pi_gate > 0] ReLU(pi_mag); sparsity = l1 mean_b sum_i ReLU(pi_gate)_i ||W_dec,i||
                aux = mean_b ||x - (ReLU(pi_gate) sg(W_dec) + sg(b_dec))||^2
"""

import math

import torch

PAPER_ARCHS = ("base", "layernorm", "adaptive", "attention", "multiscale")
BASELINE_ARCHS = ("relu", "topk", "batchtopk", "jumprelu", "gated", "matryoshka")
ALL_ARCHS = PAPER_ARCHS + BASELINE_ARCHS
NORMALIZED = ("layernorm", "adaptive", "attention", "multiscale")
ADAPTIVE = ("adaptive", "attention", "multiscale")  # mixed statistics + EMA mask
ATTENTION = ("attention", "multiscale")
TOPK_FAMILY = ("topk", "batchtopk", "matryoshka")
SCALES = (0.1, 0.5, 1.0, 2.0)
MATRYOSHKA_FRACTIONS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 17 / 32)


def default_hyper(arch, d, m, **over):
    """SaeHyper (src/sae/types.ts) with DESIGN.md's defaults; `over` replaces fields."""
    h = {
        "arch": arch,
        "d": d,
        "m": m,
        "l1": 0.05,
        "l2": 0.1 if arch in PAPER_ARCHS else 0.0,
        "k": 32,
        "auxKCoef": 1 / 32,
        "auxK": d // 2,
        "reconstruct": "denormalized",
        "eps": 1e-5,
        "coactBeta": 0.99,
        "coactTau": 0.1,
        "runBeta": 0.99,
        "jumpBandwidth": 0.001,
        "jumpInitThreshold": 0.001,
        "thresholdBeta": 0.999,
        "matryoshkaFractions": list(MATRYOSHKA_FRACTIONS),
    }
    h.update(over)
    return h


def param_names(arch):
    """Trainable tensors of an architecture (DESIGN.md s.2 names), in a fixed order."""
    if arch == "gated":
        return ["W_enc", "b_gate", "r_mag", "b_mag", "W_dec", "b_dec"]
    names = ["W_enc", "b_enc", "W_dec", "b_dec"]
    if arch in ("layernorm", "adaptive", "attention"):
        names += ["ln_gamma", "ln_beta"]
    if arch in ADAPTIVE:
        names += ["adapt_rho"]
    if arch in ATTENTION:
        names += ["attn_WQ", "attn_K", "attn_alpha"]
    if arch == "multiscale":
        names += ["ms_gamma", "ms_beta", "ms_w"]
    if arch == "jumprelu":
        names += ["threshold"]
    return names


def state_names(arch):
    """Training buffers an architecture reads and updates."""
    if arch in ADAPTIVE:
        return ["coact_ema", "run_mean", "run_var"]
    if arch in ("batchtopk", "matryoshka"):
        return ["threshold"]
    return []


def matryoshka_ends(m, fractions=MATRYOSHKA_FRACTIONS):
    """Cumulative prefix ends m_1..m_5 (m divisible by 32 makes them exact)."""
    if m % 32 != 0:
        raise ValueError(f"matryoshka needs m divisible by 32, got m = {m}")
    ends, acc = [], 0.0
    for f in fractions:
        acc += f
        ends.append(int(round(acc * m)))
    if ends[-1] != m:
        raise ValueError(f"matryoshka fractions sum to {acc}, expected 1")
    return ends


class FrobNorm(torch.autograd.Function):
    """||A||_F with gradient A / ||A||_F, and 0 where ||A||_F = 0."""

    @staticmethod
    def forward(ctx, a):
        n = torch.sqrt((a * a).sum())
        ctx.save_for_backward(a, n)
        return n

    @staticmethod
    def backward(ctx, g):
        a, n = ctx.saved_tensors
        if n.item() == 0.0:
            return torch.zeros_like(a)
        return g * a / n


def _rect(u):
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class JumpReLU(torch.autograd.Function):
    """h = pre [pre > thr]; dh/dpre = [pre > thr]; dh/dthr = -(thr/bw) K((pre - thr)/bw) (pre [B, m], thr [m])."""

    @staticmethod
    def forward(ctx, pre, thr, bw):
        ctx.save_for_backward(pre, thr)
        ctx.bw = bw
        return pre * (pre > thr).to(pre.dtype)

    @staticmethod
    def backward(ctx, g):
        pre, thr = ctx.saved_tensors
        bw = ctx.bw
        gpre = g * (pre > thr).to(pre.dtype)
        gthr = (-(thr / bw) * _rect((pre - thr) / bw) * g).sum(0)
        return gpre, gthr, None


class Step(torch.autograd.Function):
    """[pre > thr]; no gradient to pre; dStep/dthr = -(1/bw) K((pre - thr)/bw) (pre [B, m], thr [m])."""

    @staticmethod
    def forward(ctx, pre, thr, bw):
        ctx.save_for_backward(pre, thr)
        ctx.bw = bw
        return (pre > thr).to(pre.dtype)

    @staticmethod
    def backward(ctx, g):
        pre, thr = ctx.saved_tensors
        bw = ctx.bw
        gthr = (-(1.0 / bw) * _rect((pre - thr) / bw) * g).sum(0)
        return None, gthr, None


def top_mask(v, k, stable):
    """0/1 mask of the k largest entries of each row of v [R, n] (stable: ties -> lower index first)."""
    if stable:
        idx = torch.sort(v, dim=1, descending=True, stable=True).indices[:, :k]
    else:
        idx = torch.topk(v, k, dim=1, sorted=False).indices
    return torch.zeros_like(v).scatter_(1, idx, 1.0)


def coactivation(codes):
    """C [m, m] = h_i . h_j / (|h_i| |h_j| + 1e-8) over the columns of codes [B, m] (detached)."""
    h = codes.detach()
    g = h.t() @ h
    norm = torch.sqrt(torch.clamp(torch.diagonal(g), min=0.0))
    return g / (norm[:, None] * norm[None, :] + 1e-8)


def ema_mask(ema, codes, beta, tau):
    """E_new = beta E + (1 - beta)(C - tau); M = [E_new > 0] off the diagonal, 1 on it. Returns (E_new, M)."""
    e_new = beta * ema + (1.0 - beta) * (coactivation(codes) - tau)
    mask = (e_new > 0).to(ema.dtype)
    mask.fill_diagonal_(1.0)
    return e_new, mask


def ortho_penalty(w_dec, mask):
    """||M o (W_dec W_dec^T - I)||_F (W_dec [m, d], mask [m, m] or None = all ones)."""
    g = w_dec @ w_dec.t()
    a = g - torch.eye(g.shape[0], dtype=g.dtype)
    if mask is not None:
        a = a * mask
    return FrobNorm.apply(a)


def sq_err(target, approx):
    """mean_b sum_j (target - approx)_bj^2."""
    return ((target - approx) ** 2).sum(1).mean()


def aux_k_loss(hy, pre, w_dec, err, dead, stable):
    """AuxK on dead latents (pre [B, m], w_dec [m, d], err = sg(x - x^) [B, d], dead [m] 0/1)."""
    zero = pre.new_zeros(())
    if dead is None or hy["auxKCoef"] == 0:
        return zero
    dead_idx = torch.nonzero(dead > 0.5).flatten()
    n_dead = dead_idx.numel()
    if n_dead == 0:
        return zero
    k_aux = min(hy["auxK"], n_dead)
    r = torch.relu(pre[:, dead_idx])  # [B, n_dead]
    a = r * top_mask(r.detach(), k_aux, stable)
    e_hat = a @ w_dec[dead_idx]
    scale = min(n_dead / hy["auxK"], 1.0)
    return hy["auxKCoef"] * scale * sq_err(err, e_hat)


def _normalize(arch, hy, P, S, x):
    """(n [B, d], mu, var) of a normalized architecture (mu, var [B, 1] or [B, d])."""
    eps = hy["eps"]
    mu_t = x.mean(1, keepdim=True)
    var_t = ((x - mu_t) ** 2).mean(1, keepdim=True)
    if arch in ADAPTIVE:
        a = torch.sigmoid(P["adapt_rho"])
        mu = a * mu_t + (1 - a) * S["run_mean"][None, :]
        var = a * var_t + (1 - a) * S["run_var"][None, :]
    else:
        mu, var = mu_t, var_t
    xc = x - mu
    if arch == "multiscale":
        w = torch.softmax(P["ms_w"], 0)
        n = 0
        for s_i, s in enumerate(SCALES):
            n = n + w[s_i] * (P["ms_gamma"][s_i] * xc / torch.sqrt(s * var + eps) + P["ms_beta"][s_i])
    else:
        n = P["ln_gamma"] * xc / torch.sqrt(var + eps) + P["ln_beta"]
    return n, mu, var


def forward(arch, hy, P, S, x, dead=None, frozen=None, stable=True):
    """Training forward of one micro-batch.

    P: name -> parameter tensor; S: name -> buffer (state before the step); x [B, d]; dead [m] 0/1
    or None. `frozen` replaces the stop-gradient values (AuxK's e, gated's sg(W_dec), sg(b_dec))
    so finite differences see the same function autograd differentiates; None = computed here.
    Returns a dict: codes [B, m], recon [B, d], the loss parts (0-dim tensors; total carries the
    graph), l0 (float), state_after (dict), frozen (the stop-gradient values used).
    """
    B, d = x.shape
    zero = x.new_zeros(())
    out = {"sparsity": zero, "ortho": zero, "aux": zero, "state_after": {}, "frozen": {}}
    frozen = frozen or {}
    if arch in PAPER_ARCHS:
        m = P["W_enc"].shape[1]
        if arch == "base":
            pre = (x - P["b_dec"]) @ P["W_enc"] + P["b_enc"]
        else:
            n, mu, var = _normalize(arch, hy, P, S, x)
            pre = n @ P["W_enc"] + P["b_enc"]
        h = torch.relu(pre)
        if arch in ATTENTION:
            dk = P["attn_WQ"].shape[1]
            scores = P["attn_alpha"] * ((n @ P["attn_WQ"]) @ P["attn_K"].t()) / math.sqrt(dk)
            h = h * (m * torch.softmax(scores, 1))
        y = h @ P["W_dec"] + P["b_dec"]
        if arch != "base" and hy["reconstruct"] == "denormalized":
            y = torch.sqrt(var + hy["eps"]) * y + mu
        mask = None
        if arch in ADAPTIVE:
            e_new, mask = ema_mask(S["coact_ema"], h, hy["coactBeta"], hy["coactTau"])
            rb = hy["runBeta"]
            out["state_after"] = {
                "coact_ema": e_new,
                "run_mean": rb * S["run_mean"] + (1 - rb) * x.mean(0),
                "run_var": rb * S["run_var"] + (1 - rb) * x.var(0, unbiased=False),
            }
            out["e_new"] = e_new
        out["recon"] = sq_err(x, y)
        out["sparsity"] = hy["l1"] * h.abs().sum(1).mean()
        out["ortho"] = hy["l2"] * ortho_penalty(P["W_dec"], mask)
        out["pre"] = pre
    elif arch == "gated":
        xc = x - P["b_dec"]
        pi_gate = xc @ P["W_enc"] + P["b_gate"]
        pi_mag = xc @ (P["W_enc"] * torch.exp(P["r_mag"])) + P["b_mag"]
        h = (pi_gate > 0).to(x.dtype) * torch.relu(pi_mag)
        y = h @ P["W_dec"] + P["b_dec"]
        w_sg = frozen.get("W_dec", P["W_dec"].detach())
        b_sg = frozen.get("b_dec", P["b_dec"].detach())
        out["frozen"] = {"W_dec": w_sg, "b_dec": b_sg}
        g = torch.relu(pi_gate)
        out["recon"] = sq_err(x, y)
        out["sparsity"] = hy["l1"] * (g * P["W_dec"].norm(dim=1)).sum(1).mean()
        out["aux"] = sq_err(x, g @ w_sg + b_sg)
        out["pre"] = pi_gate
        out["pre_mag"] = pi_mag
    else:
        pre = (x - P["b_dec"]) @ P["W_enc"] + P["b_enc"]
        out["pre"] = pre
        if arch == "jumprelu":
            bw = hy["jumpBandwidth"]
            h = JumpReLU.apply(pre, P["threshold"], bw)
            out["sparsity"] = hy["l1"] * Step.apply(pre, P["threshold"], bw).sum(1).mean()
        else:
            r = torch.relu(pre)
            if arch == "relu":
                h = r
                out["sparsity"] = hy["l1"] * (h * P["W_dec"].norm(dim=1)).sum(1).mean()
            elif arch == "topk":
                h = r * top_mask(r.detach(), hy["k"], stable)
            else:  # batchtopk, matryoshka
                flat = r.detach().reshape(1, -1)
                h = r * top_mask(flat, hy["k"] * B, stable).reshape(r.shape)
                kept = torch.where(h > 0, h.detach(), torch.full_like(h, math.inf)).min(0).values
                tb = hy["thresholdBeta"]
                thr = S["threshold"]
                # warm start: a feature never observed (threshold 0) takes its first min kept value
                ema = torch.where(thr == 0, kept, tb * thr + (1 - tb) * kept)
                out["state_after"] = {"threshold": torch.where(torch.isfinite(kept), ema, thr)}
        if arch == "matryoshka":
            ends = matryoshka_ends(P["W_enc"].shape[1], hy["matryoshkaFractions"])
            # cumulative prefixes: x^_j = x^_{j-1} + h[:, m_{j-1}:m_j] W_dec[m_{j-1}:m_j] (one full decode in all)
            parts, y, start = [], P["b_dec"], 0
            for e in ends:
                y = y + h[:, start:e] @ P["W_dec"][start:e]
                start = e
                parts.append(sq_err(x, y))
            out["recon"] = sum(parts) / len(parts)
        else:
            y = h @ P["W_dec"] + P["b_dec"]
            out["recon"] = sq_err(x, y)
        if arch in TOPK_FAMILY:
            err = frozen.get("err", (x - y).detach())
            out["frozen"] = {"err": err}
            out["aux"] = aux_k_loss(hy, pre, P["W_dec"], err, dead, stable)
    out["codes"] = h
    out["recon_x"] = y
    out["total"] = out["recon"] + out["sparsity"] + out["ortho"] + out["aux"]
    out["l0"] = float((h != 0).sum(1).to(torch.float64).mean())
    return out
