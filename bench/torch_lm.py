"""PyTorch CPU peer of `msae bench lm`: a float32 Gemma-2 forward over a Hugging Face model folder.

Written from the semantics of transformers' modeling_gemma2.py (eager attention), not from msae's
TypeScript. Per block, with RMSNorm(z) = z / sqrt(mean(z^2) + eps) * (1 + w):

    a = RMSNorm_in(x);  q, k, v = a Wq^T, a Wk^T, a Wv^T;  RoPE(q), RoPE(k)  (rotate_half layout)
    s = c_a tanh((q k^T) * query_pre_attn_scalar^-0.5 / c_a) + causal (sliding window) mask
    x = x + RMSNorm_post_attn(softmax(s) v Wo^T)
    b = RMSNorm_pre_ff(x);  x = x + RMSNorm_post_ff((gelu_tanh(b Wg^T) * (b Wu^T)) Wd^T)

x_0 = E[ids] * sqrt(d) (the constant rounded to float32); the output is RMSNorm_final(x_L) and,
with the head, logits = c_f tanh(RMSNorm_final(x_L) E^T / c_f) (tied) or lm_head.
Grouped-query attention runs as one batched matmul per (batch, kv head): the rep = H / KV query
heads that share a kv head are stacked into [rep * T, hd] rows (no repeat_kv copy).

The weights are read by hand from model.safetensors (or an index + shards): Python's safetensors
package may be absent.

Usage: torch_lm.py --model DIR --ids FILE.i32 --batch B --seq T --threads N [--head]
then one command per line on stdin, one JSON line per command on stdout (after {"ready": true, ...}):
    forward                one timed forward -> {"s": seconds}
    profile                one forward timed per stage -> {"stages_s": {stage: seconds}}
    compare ROWS FILE.f32  max |diff| of the last output's first ROWS rows against msae's (raw
                           float32) -> {"max_abs_diff": x, "max_abs_value": y}
    quit
msae drives it so that msae and torch forwards alternate (a burst of load on the shared machine
then hits both sides alike).
"""

import argparse
import ctypes
import json
import math
import mmap
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

_DTYPES = {"F32": (torch.float32, 4), "BF16": (torch.bfloat16, 2), "F16": (torch.float16, 2)}


def read_safetensors(path, out):
    """Adds every tensor of one .safetensors file to out (name -> float32 tensor)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    base = 8 + n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise SystemExit(f"torch_lm: {path}: tensor {name} has dtype {info['dtype']}; expected F32, BF16 or F16")
        dtype, size = _DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        count = (end - begin) // size
        raw = bytearray(data[base + begin : base + end])
        view = torch.int16 if size == 2 else torch.float32
        t = torch.frombuffer(raw, dtype=view, count=count) if count else torch.empty(0, dtype=view)
        out[name] = t.view(dtype).reshape(info["shape"]).to(torch.float32).contiguous()
    data.close()


def load_weights(folder):
    out = {}
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        for s in shards:
            read_safetensors(os.path.join(folder, s), out)
    else:
        read_safetensors(os.path.join(folder, "model.safetensors"), out)
    # canonical names: Gemma2ForCausalLM stores the body under "model."
    return {(k[6:] if k.startswith("model.") else k): v for k, v in out.items()}


def is_sliding(cfg, layer):
    types = cfg.get("layer_types")
    if types is not None:
        return types[layer] == "sliding_attention"
    return layer % 2 == 0  # older configs: even layers slide


def rope_theta(cfg):
    rp = cfg.get("rope_parameters") or cfg.get("rope_scaling")
    if rp and "rope_theta" in rp:
        return float(rp["rope_theta"])
    return float(cfg.get("rope_theta", 10000.0))


class Gemma2:
    def __init__(self, cfg, w, seq):
        self.d = cfg.get("hidden_size", 2304)
        self.h = cfg.get("num_attention_heads", 8)
        self.kv = cfg.get("num_key_value_heads", 4)
        self.hd = cfg.get("head_dim", 256)
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.scale = cfg.get("query_pre_attn_scalar", 256) ** -0.5
        self.attn_cap = cfg.get("attn_logit_softcapping", 50.0)
        self.final_cap = cfg.get("final_logit_softcapping", 30.0)
        self.normalizer = float(torch.tensor(self.d**0.5, dtype=torch.float32))
        self.embed = w["embed_tokens.weight"]
        tied = cfg.get("tie_word_embeddings", True)
        self.lm_head = self.embed if tied else w["lm_head.weight"]
        self.final_norm = 1.0 + w["norm.weight"]
        self.layers = []
        window = cfg.get("sliding_window", 4096)
        i = torch.arange(seq)[:, None]
        j = torch.arange(seq)[None, :]
        for layer in range(cfg.get("num_hidden_layers", 26)):
            p = f"layers.{layer}."
            allowed = (j <= i) & ((i - j < window) if is_sliding(cfg, layer) else True)
            mask = torch.zeros(seq, seq).masked_fill_(~allowed, float("-inf"))
            self.layers.append(
                {
                    "ln_in": 1.0 + w[p + "input_layernorm.weight"],
                    "wq": w[p + "self_attn.q_proj.weight"],
                    "wk": w[p + "self_attn.k_proj.weight"],
                    "wv": w[p + "self_attn.v_proj.weight"],
                    "wo": w[p + "self_attn.o_proj.weight"],
                    "ln_post_attn": 1.0 + w[p + "post_attention_layernorm.weight"],
                    "ln_pre_ff": 1.0 + w[p + "pre_feedforward_layernorm.weight"],
                    "wg": w[p + "mlp.gate_proj.weight"],
                    "wu": w[p + "mlp.up_proj.weight"],
                    "wd": w[p + "mlp.down_proj.weight"],
                    "ln_post_ff": 1.0 + w[p + "post_feedforward_layernorm.weight"],
                    "mask": mask,
                }
            )
        inv_freq = 1.0 / (rope_theta(cfg) ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        freqs = torch.arange(seq, dtype=torch.float32)[:, None] * inv_freq[None, :]
        emb = torch.cat([freqs, freqs], dim=-1)  # [T, hd]
        self.cos, self.sin = emb.cos()[:, None, :], emb.sin()[:, None, :]  # [T, 1, hd]
        self.stages = None  # name -> seconds when profiling

    def _t(self, name, t0):
        if self.stages is None:
            return t0
        now = time.perf_counter()
        self.stages[name] = self.stages.get(name, 0.0) + now - t0
        return now

    def rms(self, x, w1):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w1

    def rope(self, x):  # x [B, T, heads, hd]
        half = self.hd // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * self.cos + rot * self.sin

    def forward(self, ids, head):
        b, t = ids.shape
        h, kv, hd = self.h, self.kv, self.hd
        rep = h // kv
        t0 = time.perf_counter()
        x = F.embedding(ids, self.embed) * self.normalizer  # [B, T, d]
        t0 = self._t("embed", t0)
        for L in self.layers:
            a = self.rms(x, L["ln_in"])
            t0 = self._t("rmsnorm", t0)
            q = F.linear(a, L["wq"]).view(b, t, h, hd)
            k = F.linear(a, L["wk"]).view(b, t, kv, hd)
            v = F.linear(a, L["wv"]).view(b, t, kv, hd).transpose(1, 2)  # [B, KV, T, hd]
            t0 = self._t("gemm qkv", t0)
            # [B, KV, rep*T, hd]: head g*rep + r -> rows r*T.. of group g
            q = self.rope(q).transpose(1, 2).reshape(b, kv, rep * t, hd)
            k = self.rope(k).transpose(1, 2)  # [B, KV, T, hd]
            t0 = self._t("rope", t0)
            s = torch.matmul(q, k.transpose(-1, -2))  # [B, KV, rep*T, T]
            t0 = self._t("gemm attention", t0)
            if self.attn_cap is not None:
                s.mul_(self.scale / self.attn_cap).tanh_().mul_(self.attn_cap)
            else:
                s.mul_(self.scale)
            s = s.view(b, h, t, t).add_(L["mask"])
            p = torch.softmax(s, dim=-1).view(b, kv, rep * t, t)
            t0 = self._t("softcap + softmax", t0)
            y = torch.matmul(p, v).view(b, h, t, hd)  # [B, H, T, hd]
            t0 = self._t("gemm attention", t0)
            y = y.transpose(1, 2).reshape(b, t, h * hd)
            t0 = self._t("copy heads", t0)
            o = F.linear(y, L["wo"])
            t0 = self._t("gemm o", t0)
            x = x + self.rms(o, L["ln_post_attn"])
            f = self.rms(x, L["ln_pre_ff"])
            t0 = self._t("rmsnorm", t0)
            g = F.linear(f, L["wg"])
            u = F.linear(f, L["wu"])
            t0 = self._t("gemm gate/up", t0)
            g = F.gelu(g, approximate="tanh").mul_(u)
            t0 = self._t("gelu * up", t0)
            m = F.linear(g, L["wd"])
            t0 = self._t("gemm down", t0)
            x = x + self.rms(m, L["ln_post_ff"])
            t0 = self._t("rmsnorm", t0)
        out = self.rms(x, self.final_norm)
        t0 = self._t("rmsnorm", t0)
        if head:
            out = F.linear(out, self.lm_head)
            if self.final_cap is not None:
                out.div_(self.final_cap).tanh_().mul_(self.final_cap)
            self._t("gemm head", t0)
        return out


def blas_core():
    """The OpenBLAS kernel family this process runs (torch links OpenBLAS through libblas.so.3 on Debian)."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True, help="raw little-endian int32 token ids [batch * seq]")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--head", action="store_true", help="include the unembedding (logits)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    ids = torch.from_numpy(np.fromfile(args.ids, dtype="<i4").astype("int64"))
    ids = ids.view(args.batch, args.seq)
    model = Gemma2(cfg, load_weights(args.model), args.seq)
    reply({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas_core": blas_core()})

    out = None
    with torch.inference_mode():
        for line in sys.stdin:
            cmd = line.split()
            if not cmd:
                continue
            if cmd[0] == "forward":
                t0 = time.perf_counter()
                out = model.forward(ids, args.head)
                reply({"s": time.perf_counter() - t0})
            elif cmd[0] == "profile":
                model.stages = {}
                out = model.forward(ids, args.head)
                reply({"stages_s": model.stages})
                model.stages = None
            elif cmd[0] == "compare":  # compare ROWS FILE: max |out - msae| over the first ROWS rows
                if out is None:
                    out = model.forward(ids, args.head)
                width = out.shape[-1]
                mine = out.reshape(-1, width)[: int(cmd[1])]
                path = line.split(None, 2)[2].strip()
                theirs = torch.from_numpy(np.fromfile(path, dtype="<f4")).view(-1, width)
                diff = (mine - theirs).abs().max().item()
                reply({"max_abs_diff": diff if math.isfinite(diff) else None, "max_abs_value": mine.abs().max().item()})
            elif cmd[0] == "quit":
                break
            else:
                reply({"error": f"unknown command {cmd[0]}; expected forward, profile, compare ROWS FILE or quit"})


if __name__ == "__main__":
    main()
