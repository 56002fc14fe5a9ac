#!/usr/bin/env python3
"""Makes tests/fixtures/bpe_tiny: a small byte-level BPE tokenizer.json (GPT-2 pre-tokenizer),
trained by Hugging Face `tokenizers` on a fixed text, and reference.json with its encodings of
a few strings (ids with and without added special tokens), for tests/test_model_tokenizer.cpp.

    python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install tokenizers
    /tmp/tokvenv/bin/python scripts/make_bpe_fixture.py
"""
import json
import os

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

TEXT = [
    "The quick brown fox jumps over the lazy dog. It's 2024, and we'll see 1234567 tokens.",
    "KV-cache scheduling: vLLM, Sarathi-Serve and CacheOPT preempt requests by swap or recompute.",
    "Paged attention reads keys and values through block tables; don't   waste memory!\n\n",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber \u65e5\u672c\u8a9e \U0001F600 emoji, tabs\tand\r\nnewlines.",
] * 20

SAMPLES = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "It's 2024; we'll PREEMPT 12345 requests   (swap/recompute)!\n\n  done",
    "Caf\u00e9 \u65e5\u672c\u8a9e \U0001F600 tabs\tand\r\nnew",
    "<|bos|>Hello<|eos|> again",
    "",
    " leading space and trailing ",
]


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(repo, "tests", "fixtures", "bpe_tiny")
    os.makedirs(out, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|bos|>", "<|eos|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TEXT, trainer)
    tok.save(os.path.join(out, "tokenizer.json"))
    ref = {"generator": "scripts/make_bpe_fixture.py", "samples": []}
    for s in SAMPLES:
        enc = tok.encode(s)
        ref["samples"].append({"text": s, "ids": enc.ids, "decoded": tok.decode(enc.ids, skip_special_tokens=False)})
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
