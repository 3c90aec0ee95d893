"""Independent float64 PyTorch references of Gemma-2 and GPT-2 (plain torch ops).

Written from the semantics of transformers' modeling_gemma2.py / modeling_gpt2.py (eager attention
path) and TransformerLens's hook placement, not from msae's TypeScript. Every function takes the HF
config dict and a dict of float64 weights keyed by canonical HF names (no "model." / "transformer."
prefix), and returns (logits [B, T, V], hooks {name: [B, T, d]}).

Hooks (TransformerLens names): blocks.L.hook_resid_pre (input of block L), hook_attn_out (what the
attention sub-block adds to the residual; for Gemma-2 after post_attention_layernorm),
hook_mlp_out (likewise, after post_feedforward_layernorm), hook_resid_post (output of block L).
`splice` maps a hook name to a function applied to that activation (the result replaces it).
"""

import math

import torch

F64 = torch.float64


def gelu_tanh(x):
    """gelu_pytorch_tanh / gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def gemma_rms_norm(x, w, eps):
    """Gemma2RMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w)."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + w)


def layer_norm(x, g, b, eps):
    """torch LayerNorm: biased variance over the last dim, eps inside the sqrt."""
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * g + b


def rope_cos_sin(positions, head_dim, theta):
    """HF default rope: inv_freq[i] = theta^(-2i/head_dim), emb = cat(freqs, freqs) (rotate_half layout)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=F64) / head_dim))
    freqs = positions.to(F64)[:, None] * inv_freq[None, :]  # [T, hd/2]
    emb = torch.cat([freqs, freqs], dim=-1)  # [T, hd]
    return emb.cos(), emb.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def causal_allowed(t, window):
    """[T, T] bool: key j visible from query i when j <= i and (window is None or i - j < window)."""
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    allowed = j <= i
    if window is not None:
        allowed = allowed & (i - j < window)
    return allowed


def _hook(hooks, splice, name, x):
    if splice and name in splice:
        x = splice[name](x)
    hooks[name] = x.clone()
    return x


def gemma2_layer_is_sliding(cfg, layer):
    """Newer configs list layer_types; older ones alternate: even layers sliding, odd layers global
    (transformers: `sliding_window if not bool(layer_idx % 2)`; newer default layer_types:
    'sliding_attention' if (i + 1) % 2 else 'full_attention')."""
    types = cfg.get("layer_types")
    if types is not None:
        return types[layer] == "sliding_attention"
    return layer % 2 == 0


def gemma2_rope_theta(cfg):
    rp = cfg.get("rope_parameters")
    if rp is not None:
        assert rp.get("rope_type", "default") == "default"
        return float(rp["rope_theta"])
    return float(cfg.get("rope_theta", 10000.0))


def gemma2_forward(cfg, w, ids, splice=None):
    b, t = ids.shape
    d = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]
    hd = cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    theta = gemma2_rope_theta(cfg)
    scaling = cfg["query_pre_attn_scalar"] ** -0.5
    attn_cap = cfg.get("attn_logit_softcapping")
    final_cap = cfg.get("final_logit_softcapping")
    hooks = {}

    emb = w["embed_tokens.weight"]
    # transformers: normalizer = torch.tensor(hidden_size**0.5, dtype=hidden_states.dtype): we model
    # a float32 run, so the constant is sqrt(d) rounded to float32.
    normalizer = torch.tensor(d**0.5, dtype=torch.float32).to(F64)
    x = emb[ids] * normalizer  # [B, T, d]
    cos, sin = rope_cos_sin(torch.arange(t), hd, theta)  # [T, hd]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"layers.{layer}."
        x = _hook(hooks, splice, f"blocks.{layer}.hook_resid_pre", x)
        h = gemma_rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(b, t, nh, hd).transpose(1, 2)  # [B, H, T, hd]
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(b, t, nkv, hd).transpose(1, 2)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(b, t, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // nkv  # repeat_kv: query head hq reads kv head hq // rep
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        scores = (q @ k.transpose(2, 3)) * scaling
        if attn_cap is not None:
            scores = attn_cap * torch.tanh(scores / attn_cap)
        window = cfg["sliding_window"] if gemma2_layer_is_sliding(cfg, layer) else None
        scores = scores.masked_fill(~causal_allowed(t, window), float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        y = (probs @ v).transpose(1, 2).reshape(b, t, nh * hd)
        attn = y @ w[p + "self_attn.o_proj.weight"].T
        attn = gemma_rms_norm(attn, w[p + "post_attention_layernorm.weight"], eps)
        attn = _hook(hooks, splice, f"blocks.{layer}.hook_attn_out", attn)
        x = x + attn
        h = gemma_rms_norm(x, w[p + "pre_feedforward_layernorm.weight"], eps)
        gate = h @ w[p + "mlp.gate_proj.weight"].T
        up = h @ w[p + "mlp.up_proj.weight"].T
        mlp = (gelu_tanh(gate) * up) @ w[p + "mlp.down_proj.weight"].T
        mlp = gemma_rms_norm(mlp, w[p + "post_feedforward_layernorm.weight"], eps)
        mlp = _hook(hooks, splice, f"blocks.{layer}.hook_mlp_out", mlp)
        x = x + mlp
        x = _hook(hooks, splice, f"blocks.{layer}.hook_resid_post", x)
    x = gemma_rms_norm(x, w["norm.weight"], eps)
    lm_head = w.get("lm_head.weight", emb) if not cfg.get("tie_word_embeddings", True) else emb
    logits = x @ lm_head.T
    if final_cap is not None:
        logits = final_cap * torch.tanh(logits / final_cap)
    return logits, hooks


def gpt2_forward(cfg, w, ids, splice=None):
    b, t = ids.shape
    d = cfg["n_embd"]
    nh = cfg["n_head"]
    hd = d // nh
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    hooks = {}
    x = w["wte.weight"][ids] + w["wpe.weight"][torch.arange(t)][None]
    allowed = causal_allowed(t, None)
    for layer in range(cfg["n_layer"]):
        p = f"h.{layer}."
        x = _hook(hooks, splice, f"blocks.{layer}.hook_resid_pre", x)
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]  # Conv1D: weight [in, out]
        q, k, v = qkv.split(d, dim=2)
        q = q.view(b, t, nh, hd).transpose(1, 2)
        k = k.view(b, t, nh, hd).transpose(1, 2)
        v = v.view(b, t, nh, hd).transpose(1, 2)
        scores = q @ k.transpose(2, 3)
        if cfg.get("scale_attn_weights", True):
            scores = scores / math.sqrt(hd)
        if cfg.get("scale_attn_by_inverse_layer_idx", False):
            scores = scores / float(layer + 1)
        scores = scores.masked_fill(~allowed, float("-inf"))
        y = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
        attn = y @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        attn = _hook(hooks, splice, f"blocks.{layer}.hook_attn_out", attn)
        x = x + attn
        h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        fc = gelu_tanh(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        mlp = fc @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        mlp = _hook(hooks, splice, f"blocks.{layer}.hook_mlp_out", mlp)
        x = x + mlp
        x = _hook(hooks, splice, f"blocks.{layer}.hook_resid_post", x)
    x = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"], eps)
    logits = x @ w["wte.weight"].T  # tied lm_head
    return logits, hooks
