"""PyTorch CPU peer of `msae bench train`: one float32 Gemma-2 LM training step (autograd).

The forward is bench/torch_lm.py's (written from transformers' modeling_gemma2.py, eager attention:
RMSNorm (1 + w), RoPE rotate_half, q k^T * query_pre_attn_scalar^-0.5 soft-capped at c_a, causal /
sliding-window softmax, GeGLU with tanh GELU, pre + post norms, tied soft-capped logits), run with
autograd on leaf parameters instead of under inference_mode. ONE STEP, what msae's side must match:

    loss   = sum over scored targets of CE(logits_r, target_r) / (number of scored targets)
             (targets [B, T]: -1 = ignored; F.cross_entropy(ignore_index=-1, reduction="sum"))
    loss.backward()                                      (every parameter's gradient)
    clip_grad_norm_(params, 1.0)                          (global norm; returned as grad_norm)
    AdamW(lr, betas (b1, b2), eps, weight decay wd on the matrices, 0 on the RMSNorm gains),
    foreach=True (the multi-tensor path, torch's fastest on CPU), then zero_grad(set_to_none=True)
    loss.item()                                          (read back, as a training log does)

The initial weights are read from the model folder (the same file msae loads); ids and targets are
raw int32 files msae wrote. Grouped-query attention runs as one batched matmul per (batch, kv head)
with the rep = H / KV query heads stacked (no repeat_kv copy), as in torch_lm.py.

Usage: torch_train.py --model DIR --ids FILE.i32 --targets FILE.i32 --batch B --seq T --threads N
                      --lr LR --beta1 B1 --beta2 B2 --eps E --weight-decay WD --clip C
then one command per line on stdin, one JSON line per command on stdout (after {"ready": true, ...}):
    step     one timed training step -> {"s": wall seconds, "cpu_s": process CPU seconds,
             "loss": loss before the update, "grad_norm": x}
    quit
msae drives it so that msae and torch steps alternate (a burst of load hits both sides alike).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_lm import blas_core, is_sliding, load_weights, rope_theta  # noqa: E402


class Gemma2Train:
    def __init__(self, cfg, w, seq):
        self.d = cfg["hidden_size"]
        self.h = cfg["num_attention_heads"]
        self.kv = cfg["num_key_value_heads"]
        self.hd = cfg["head_dim"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.scale = cfg.get("query_pre_attn_scalar", self.hd) ** -0.5
        self.attn_cap = cfg.get("attn_logit_softcapping")
        self.final_cap = cfg.get("final_logit_softcapping")
        self.normalizer = float(torch.tensor(self.d**0.5, dtype=torch.float32))
        if not cfg.get("tie_word_embeddings", True):
            raise SystemExit("torch_train: only tied embeddings are benchmarked")
        self.params = {k: v.clone().requires_grad_(True) for k, v in w.items()}
        i = torch.arange(seq)[:, None]
        j = torch.arange(seq)[None, :]
        window = cfg.get("sliding_window", 4096)
        self.masks = []
        self.n_layers = cfg["num_hidden_layers"]
        for layer in range(self.n_layers):
            allowed = (j <= i) & ((i - j < window) if is_sliding(cfg, layer) else True)
            self.masks.append(torch.zeros(seq, seq).masked_fill_(~allowed, float("-inf")))
        inv_freq = 1.0 / (rope_theta(cfg) ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        freqs = torch.arange(seq, dtype=torch.float32)[:, None] * inv_freq[None, :]
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos()[:, None, :], emb.sin()[:, None, :]  # [T, 1, hd]

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * (1.0 + w)

    def rope(self, x):  # x [B, T, heads, hd]
        half = self.hd // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * self.cos + rot * self.sin

    def loss(self, ids, targets, scored):
        P = self.params
        b, t = ids.shape
        h, kv, hd = self.h, self.kv, self.hd
        rep = h // kv
        x = F.embedding(ids, P["embed_tokens.weight"]) * self.normalizer
        for layer in range(self.n_layers):
            p = f"layers.{layer}."
            a = self.rms(x, P[p + "input_layernorm.weight"])
            q = F.linear(a, P[p + "self_attn.q_proj.weight"]).view(b, t, h, hd)
            k = F.linear(a, P[p + "self_attn.k_proj.weight"]).view(b, t, kv, hd)
            v = F.linear(a, P[p + "self_attn.v_proj.weight"]).view(b, t, kv, hd).transpose(1, 2)
            q = self.rope(q).transpose(1, 2).reshape(b, kv, rep * t, hd)
            k = self.rope(k).transpose(1, 2)
            s = torch.matmul(q, k.transpose(-1, -2))  # [B, KV, rep*T, T]
            if self.attn_cap is not None:
                s = torch.tanh(s * (self.scale / self.attn_cap)) * self.attn_cap
            else:
                s = s * self.scale
            s = s.view(b, h, t, t) + self.masks[layer]
            pr = torch.softmax(s, dim=-1).view(b, kv, rep * t, t)
            y = torch.matmul(pr, v).view(b, h, t, hd).transpose(1, 2).reshape(b, t, h * hd)
            o = F.linear(y, P[p + "self_attn.o_proj.weight"])
            x = x + self.rms(o, P[p + "post_attention_layernorm.weight"])
            f = self.rms(x, P[p + "pre_feedforward_layernorm.weight"])
            g = F.gelu(F.linear(f, P[p + "mlp.gate_proj.weight"]), approximate="tanh")
            m = F.linear(g * F.linear(f, P[p + "mlp.up_proj.weight"]), P[p + "mlp.down_proj.weight"])
            x = x + self.rms(m, P[p + "post_feedforward_layernorm.weight"])
        n = self.rms(x, P["norm.weight"])
        logits = F.linear(n, P["embed_tokens.weight"])
        if self.final_cap is not None:
            logits = torch.tanh(logits / self.final_cap) * self.final_cap
        ce = F.cross_entropy(logits.view(b * t, -1), targets.view(-1), ignore_index=-1, reduction="sum")
        return ce / scored


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True, help="raw little-endian int32 token ids [batch * seq]")
    ap.add_argument("--targets", required=True, help="raw little-endian int32 targets [batch * seq], -1 ignored")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--beta1", type=float, required=True)
    ap.add_argument("--beta2", type=float, required=True)
    ap.add_argument("--eps", type=float, required=True)
    ap.add_argument("--weight-decay", type=float, required=True)
    ap.add_argument("--clip", type=float, required=True)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)

    def read_i32(path):
        a = torch.from_numpy(np.fromfile(path, dtype="<i4").astype("int64"))
        return a.view(args.batch, args.seq)

    ids = read_i32(args.ids)
    targets = read_i32(args.targets)
    scored = int((targets >= 0).sum().item())
    model = Gemma2Train(cfg, load_weights(args.model), args.seq)
    matrices = [p for p in model.params.values() if p.dim() >= 2]
    gains = [p for p in model.params.values() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": matrices, "weight_decay": args.weight_decay}, {"params": gains, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(args.beta1, args.beta2),
        eps=args.eps,
        foreach=True,
    )
    params = matrices + gains
    reply({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas_core": blas_core()})
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "step":
            c0 = time.process_time()
            t0 = time.perf_counter()
            loss = model.loss(ids, targets, scored)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, args.clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            value = loss.item()
            s = time.perf_counter() - t0
            cpu = time.process_time() - c0
            reply({"s": s, "cpu_s": cpu, "loss": value, "grad_norm": float(norm)})
        elif cmd[0] == "quit":
            break
        else:
            reply({"error": f"unknown command {cmd[0]}; expected step or quit"})


if __name__ == "__main__":
    main()
