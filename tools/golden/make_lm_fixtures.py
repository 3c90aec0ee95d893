"""Creates the tiny LM fixtures of test/golden/lm/ and their expected outputs.

Run: /usr/bin/python3 tools/golden/make_lm_fixtures.py [out_dir]   (default test/golden/lm)

Each fixture folder is a Hugging Face model folder (config.json, model.safetensors or a sharded
model.safetensors.index.json, tokenizer.json) with random weights, plus:
  inputs.json           {"input_ids": [[...], [...]], "splice": {...}}   (batch 2, T > sliding window)
  expected.safetensors  F32: "logits" [2, T, V], every hook "blocks.L.hook_*" [2, T, d], and
                        "logits_spliced" [2, T, V] with the splices of inputs.json applied.
Expected values come from lm_reference.py in float64 on the weights exactly as stored (bf16/f16
rounded), then rounded to float32.

Fixtures:
  gemma2-old  Gemma-2, older config (rope_theta, sliding_window, no layer_types), bf16, single file,
              HF names with the "model." prefix, GQA 4 heads / 2 kv heads, head_dim 16 != 48/4.
  gemma2-new  Gemma-2, newer config (rope_parameters, layer_types with a non-default pattern), f32,
              sharded in 2 files with an index, names without the "model." prefix, MQA (1 kv head).
  gpt2        GPT-2, f16, names without prefix, with the attn.bias mask buffers old checkpoints carry.
"""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lm_reference import gemma2_forward, gpt2_forward  # noqa: E402
from st_write import load_file, save_file  # noqa: E402
from tiny_tokenizer import make_tokenizer  # noqa: E402

F64 = torch.float64
BATCH = 2
SEQ = 16


def normal(shape, std, gen):
    return torch.randn(*shape, generator=gen, dtype=F64) * std


def gemma2_weights(cfg, gen):
    d, nh, nkv, hd, inter = (
        cfg["hidden_size"],
        cfg["num_attention_heads"],
        cfg["num_key_value_heads"],
        cfg["head_dim"],
        cfg["intermediate_size"],
    )
    w = {"embed_tokens.weight": normal((cfg["vocab_size"], d), 0.25, gen)}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"layers.{layer}."
        w[p + "self_attn.q_proj.weight"] = normal((nh * hd, d), 0.2, gen)
        w[p + "self_attn.k_proj.weight"] = normal((nkv * hd, d), 0.2, gen)
        w[p + "self_attn.v_proj.weight"] = normal((nkv * hd, d), 0.2, gen)
        w[p + "self_attn.o_proj.weight"] = normal((d, nh * hd), 0.2, gen)
        w[p + "mlp.gate_proj.weight"] = normal((inter, d), 0.2, gen)
        w[p + "mlp.up_proj.weight"] = normal((inter, d), 0.2, gen)
        w[p + "mlp.down_proj.weight"] = normal((d, inter), 0.15, gen)
        for n in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"):
            w[p + n + ".weight"] = normal((d,), 0.3, gen)
    w["norm.weight"] = normal((d,), 0.3, gen)
    return w


def gpt2_weights(cfg, gen):
    d = cfg["n_embd"]
    inner = cfg.get("n_inner") or 4 * d
    w = {"wte.weight": normal((cfg["vocab_size"], d), 0.3, gen), "wpe.weight": normal((cfg["n_positions"], d), 0.1, gen)}
    for layer in range(cfg["n_layer"]):
        p = f"h.{layer}."
        w[p + "ln_1.weight"] = 1.0 + normal((d,), 0.2, gen)
        w[p + "ln_1.bias"] = normal((d,), 0.1, gen)
        w[p + "attn.c_attn.weight"] = normal((d, 3 * d), 0.35, gen)  # Conv1D: [in, out]
        w[p + "attn.c_attn.bias"] = normal((3 * d,), 0.1, gen)
        w[p + "attn.c_proj.weight"] = normal((d, d), 0.2, gen)
        w[p + "attn.c_proj.bias"] = normal((d,), 0.1, gen)
        w[p + "ln_2.weight"] = 1.0 + normal((d,), 0.2, gen)
        w[p + "ln_2.bias"] = normal((d,), 0.1, gen)
        w[p + "mlp.c_fc.weight"] = normal((d, inner), 0.2, gen)
        w[p + "mlp.c_fc.bias"] = normal((inner,), 0.1, gen)
        w[p + "mlp.c_proj.weight"] = normal((inner, d), 0.15, gen)
        w[p + "mlp.c_proj.bias"] = normal((d,), 0.1, gen)
    w["ln_f.weight"] = 1.0 + normal((d,), 0.2, gen)
    w["ln_f.bias"] = normal((d,), 0.1, gen)
    return w


def store(weights, dtype):
    """Rounds to the storage dtype; returns (stored tensors, float64 copies of exactly those values)."""
    stored = {k: v.to(dtype).contiguous() for k, v in weights.items()}
    return stored, {k: v.to(F64) for k, v in stored.items()}


def write_weights(folder, tensors, shards):
    if shards == 1:
        save_file(tensors, os.path.join(folder, "model.safetensors"), {"format": "pt"})
        return
    names = list(tensors.keys())
    per = (len(names) + shards - 1) // shards
    weight_map = {}
    total = 0
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[s * per : (s + 1) * per]}
        total += save_file(part, os.path.join(folder, fname), {"format": "pt"})
        for n in part:
            weight_map[n] = fname
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)


def apply_splice(spec):
    """inputs.json splice spec -> python functions: "zero" or "scale:<s>"."""
    out = {}
    for hook, what in spec.items():
        if what == "zero":
            out[hook] = lambda x: torch.zeros_like(x)
        elif what.startswith("scale:"):
            s = float(what.split(":")[1])
            out[hook] = lambda x, s=s: x * s
        else:
            raise ValueError(what)
    return out


def make_fixture(root, name, cfg, tok_specials, weights, dtype, prefix, shards, forward, ids, splice, extra=None):
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        os.remove(os.path.join(folder, f))
    tok, vocab = make_tokenizer(*tok_specials)
    assert vocab == cfg["vocab_size"], (vocab, cfg["vocab_size"])
    with open(os.path.join(folder, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    stored, w64 = store(weights, dtype)
    on_disk = {prefix + k: v for k, v in stored.items()}
    for k, v in (extra or {}).items():
        on_disk[k] = v
    write_weights(folder, on_disk, shards)

    logits, hooks = forward(cfg, w64, ids)
    spliced, _ = forward(cfg, w64, ids, apply_splice(splice))
    expected = {"logits": logits.to(torch.float32)}
    for k, v in hooks.items():
        expected[k] = v.to(torch.float32)
    expected["logits_spliced"] = spliced.to(torch.float32)
    save_file(expected, os.path.join(folder, "expected.safetensors"), {"source": "tools/golden/lm_reference.py"})
    with open(os.path.join(folder, "inputs.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "splice": splice}, f)

    # round-trip check of the writer on the expected file
    back = load_file(os.path.join(folder, "expected.safetensors"))
    assert torch.equal(back["logits"], expected["logits"])
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"{name}: {size / 1024:.0f} KB, logits |max| {logits.abs().max():.3f}, std {logits.std():.3f}")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join("test", "golden", "lm")
    gen = torch.Generator().manual_seed(20240611)

    gemma_specials = (["<pad>", "<eos>", "<bos>", "<unk>"], [])
    old = {
        "architectures": ["Gemma2ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attn_logit_softcapping": 2.0,
        "bos_token_id": 2,
        "cache_implementation": "hybrid",
        "eos_token_id": 1,
        "final_logit_softcapping": 3.0,
        "head_dim": 16,
        "hidden_act": "gelu_pytorch_tanh",
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 48,
        "initializer_range": 0.02,
        "intermediate_size": 96,
        "max_position_embeddings": 64,
        "model_type": "gemma2",
        "num_attention_heads": 4,
        "num_hidden_layers": 4,
        "num_key_value_heads": 2,
        "pad_token_id": 0,
        "query_pre_attn_scalar": 24,
        "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0,
        "sliding_window": 5,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.42.4",
        "use_cache": True,
        "vocab_size": 288,
    }
    ids = torch.randint(0, old["vocab_size"], (BATCH, SEQ), generator=gen)
    ids[:, 0] = 2  # <bos>
    make_fixture(
        root, "gemma2-old", old, gemma_specials, gemma2_weights(old, gen), torch.bfloat16, "model.", 1,
        gemma2_forward, ids, {"blocks.1.hook_attn_out": "zero", "blocks.2.hook_resid_pre": "scale:0.5"},
    )

    new = {
        "architectures": ["Gemma2ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attn_logit_softcapping": 2.5,
        "bos_token_id": 2,
        "dtype": "float32",
        "eos_token_id": 1,
        "final_logit_softcapping": 4.0,
        "head_dim": 12,
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 32,
        "initializer_range": 0.02,
        "intermediate_size": 64,
        "layer_types": ["full_attention", "sliding_attention", "sliding_attention"],
        "max_position_embeddings": 64,
        "model_type": "gemma2",
        "num_attention_heads": 4,
        "num_hidden_layers": 3,
        "num_key_value_heads": 1,
        "pad_token_id": 0,
        "query_pre_attn_scalar": 12,
        "rms_norm_eps": 1e-06,
        "rope_parameters": {"rope_theta": 100.0, "rope_type": "default"},
        "sliding_window": 4,
        "tie_word_embeddings": True,
        "transformers_version": "5.0.0",
        "use_cache": True,
        "vocab_size": 288,
    }
    ids = torch.randint(0, new["vocab_size"], (BATCH, SEQ), generator=gen)
    ids[:, 0] = 2
    make_fixture(
        root, "gemma2-new", new, gemma_specials, gemma2_weights(new, gen), torch.float32, "", 2,
        gemma2_forward, ids, {"blocks.0.hook_mlp_out": "zero", "blocks.1.hook_resid_post": "scale:0.5"},
    )

    gpt = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": 284,
        "embd_pdrop": 0.1,
        "eos_token_id": 284,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": 32,
        "n_embd": 32,
        "n_head": 4,
        "n_inner": None,
        "n_layer": 2,
        "n_positions": 32,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "torch_dtype": "float16",
        "vocab_size": 285,
    }
    ids = torch.randint(0, gpt["vocab_size"], (BATCH, SEQ), generator=gen)
    mask = torch.tril(torch.ones(gpt["n_positions"], gpt["n_positions"])).view(1, 1, gpt["n_positions"], -1)
    buffers = {f"h.{i}.attn.bias": mask.to(torch.float32) for i in range(gpt["n_layer"])}
    make_fixture(
        root, "gpt2", gpt, ([], ["<|endoftext|>"]), gpt2_weights(gpt, gen), torch.float16, "", 1,
        gpt2_forward, ids, {"blocks.0.hook_attn_out": "zero", "blocks.1.hook_resid_pre": "scale:0.5"}, buffers,
    )


if __name__ == "__main__":
    main()
