#!/usr/bin/env python3
"""Writes tests/fixtures/llama_tiny/: a seeded random tiny Llama in Hugging Face layout and
reference logits from transformers' LlamaForCausalLM, for kvsched's C++ Llama (issue 13).

Run with the environment of scripts/setup_vllm.sh (torch + transformers):
    $KVSCHED_VLLM_VENV/bin/python scripts/make_llama_fixture.py [--out DIR] [--seed N]

Layout (see docs/vllm_fixtures.md):
    llama_tiny/config.json, model.safetensors, reference.json          fp32 weights
    llama_tiny/fp16/config.json, model.safetensors, reference.json     the same weights rounded to fp16
    llama_tiny/bf16/config.json, model.safetensors, reference.json     ... rounded to bf16
Each reference.json holds logits computed in float32 (eager attention) from the weights of its
own folder (the fp16/bf16 ones upcast to fp32), so a loader of any dtype can be checked tightly.
"""
import argparse
import json
import os
import shutil

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

PROMPT_LENGTHS = (5, 17, 40)
GREEDY_TOKENS = 16


def build_config():
    return LlamaConfig(
        vocab_size=1000,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        hidden_act="silu",
        max_position_embeddings=512,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        # Larger than the default 0.02 so that logits are O(1) and a 1e-4 check means something.
        initializer_range=0.1,
        bos_token_id=1,
        eos_token_id=2,
        attn_implementation="eager",
    )


def randomize(model, seed):
    """Seeded weights: normal(0, 0.1) for every matrix, 1 + normal(0, 0.1) for the RMSNorm
    gains (so a loader that ignores them fails)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(0.1 * noise)


def fmt(x):
    return float(f"{x:.8g}")


@torch.no_grad()
def reference(model, prompts):
    out = []
    for ids in prompts:
        t = torch.tensor([ids], dtype=torch.long)
        logits = model(input_ids=t).logits[0].float()  # [len, vocab]
        seq = list(ids)
        greedy = []
        margin = float("inf")
        for _ in range(GREEDY_TOKENS):  # full recompute each step: no KV-cache code involved
            last = model(input_ids=torch.tensor([seq])).logits[0, -1].float()
            top = torch.topk(last, 2).values
            margin = min(margin, float(top[0] - top[1]))
            nxt = int(last.argmax())
            greedy.append(nxt)
            seq.append(nxt)
        out.append({
            "token_ids": list(ids),
            "logits": [[fmt(v) for v in row] for row in logits.tolist()],
            "greedy": greedy,
            "greedy_min_margin": fmt(margin),
        })
    return out


def save(model, folder, dtype_name, prompts, seed):
    os.makedirs(folder, exist_ok=True)
    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype_name]
    m = model.to(dtype)
    m.save_pretrained(folder, safe_serialization=True)
    for extra in ("generation_config.json",):
        p = os.path.join(folder, extra)
        if os.path.exists(p):
            os.remove(p)
    # transformers 5 writes rope_theta inside "rope_parameters" and the dtype as "dtype"; also
    # write the flat keys older readers (transformers 4, most C++ loaders) look for.
    cpath = os.path.join(folder, "config.json")
    with open(cpath) as f:
        c = json.load(f)
    c.setdefault("rope_theta", (c.get("rope_parameters") or {}).get("rope_theta", 10000.0))
    c.setdefault("torch_dtype", dtype_name)
    with open(cpath, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")
    m = m.to(torch.float32)  # the dtype-rounded weights, computed in fp32
    m.eval()
    ref = {
        "generator": "scripts/make_llama_fixture.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "seed": seed,
        "weights_dtype": dtype_name,
        "compute_dtype": "float32",
        "attn_implementation": "eager",
        "vocab_size": m.config.vocab_size,
        "greedy_tokens": GREEDY_TOKENS,
        "prompts": reference(m, prompts),
    }
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
        f.write("\n")
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(repo, "tests", "fixtures", "llama_tiny"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    cfg = build_config()
    model = LlamaForCausalLM(cfg).to(torch.float32)
    randomize(model, args.seed)
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}

    g = torch.Generator().manual_seed(args.seed + 1)
    prompts = [torch.randint(3, cfg.vocab_size, (n,), generator=g).tolist() for n in PROMPT_LENGTHS]

    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    for sub, dt in (("", "float32"), ("fp16", "float16"), ("bf16", "bfloat16")):
        model.load_state_dict(state)
        save(model, os.path.join(args.out, sub), dt, prompts, args.seed)
    # The saved folder must load back to the same logits (checks the config keys added above).
    back = LlamaForCausalLM.from_pretrained(args.out, attn_implementation="eager").eval()
    with open(os.path.join(args.out, "reference.json")) as f:
        ref0 = json.load(f)["prompts"][0]
    with torch.no_grad():
        got = back(input_ids=torch.tensor([ref0["token_ids"]])).logits[0]
    err = float((got - torch.tensor(ref0["logits"])).abs().max())
    assert err < 1e-5, f"reloaded model differs from reference by {err}"
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.out) for f in fs)
    print(f"wrote {args.out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
