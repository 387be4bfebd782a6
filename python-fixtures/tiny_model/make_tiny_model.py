#!/usr/bin/env python3
"""Generate a tiny, deterministic Llama chat model in the Hugging Face cache layout.

Usage:
    python3 make_tiny_model.py HF_HOME

Writes
    $HF_HOME/hub/models--mlx-community--tiny-llama-deterministic/
        refs/main                      (the snapshot hash, no trailing newline)
        snapshots/<SNAPSHOT_HASH>/
            config.json                (model_type llama, hidden 64, 2 layers, 4 heads)
            model.safetensors          (float32, fixed weights, no randomness)
            tokenizer.json             (ByteLevel BPE trained locally on a built-in corpus)
            tokenizer_config.json      (ChatML chat_template, eos <|im_end|>)
            special_tokens_map.json
            generation_config.json
            README.md                  (front matter: library_name mlx)

and prints one JSON line:
    {"model": "mlx-community/tiny-llama-deterministic", "expected_reply": "...",
     "snapshot": "/abs/path/to/snapshot", ...}

Needs only the stdlib plus numpy, safetensors and tokenizers (no torch, no network).

How the weights make generation deterministic under any sampling settings
(mlx-knife defaults: temperature 0.7, top_p 0.9, repetition_penalty 1.1):

* Every attention ``o_proj`` and every MLP ``down_proj`` is zero, so each decoder
  layer adds nothing to the residual stream: the final hidden state of a position
  is just the embedding of its own token. Logits therefore depend only on the
  current token, never on the prompt or the position.
* Reply token T_i (i = 1..n) embeds as the one-hot e_i; every other token
  (prompt text, chat markers, specials) embeds as e_0, the shared "start" direction.
  The final RMSNorm turns a one-hot e_k into 8*e_k (hidden size 64).
* lm_head maps e_0 -> T_1, e_i -> T_(i+1), e_n -> EOS with a logit of 100 and
  every other logit 0. After temperature 0.7 the runner-up is ~e^-143 behind (it
  underflows to exactly 0 in float32), so top_p/temperature cannot change the
  choice, and a 1.1 repetition penalty only moves 100 to ~91.
* The reply's token ids are pairwise distinct (asserted below), so the chain
  start -> T_1 -> ... -> T_n -> EOS is well defined and ends after n+1 tokens.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

# Keep the tokenizers trainer single-threaded: the result must not depend on scheduling.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")

try:
    import numpy as np
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
except ImportError as exc:  # pragma: no cover - environment problem, not a fixture problem
    sys.exit(
        f"make_tiny_model.py: {exc}. It needs numpy, safetensors and tokenizers; run it with "
        "PYTHONPATH pointing at the directory mlx-knife was installed into (pip --target)."
    )

ORG = "mlx-community"
NAME = "tiny-llama-deterministic"
MODEL_ID = f"{ORG}/{NAME}"
# Fixed, made-up commit hash (40 hex). Constant so paths and `@hash` specs are stable.
SNAPSHOT_HASH = hashlib.sha1(b"mlx-knife fixture: mlx-community/tiny-llama-deterministic v1").hexdigest()

EXPECTED_REPLY = "Hello from the tiny deterministic model."
# The reply as ByteLevel BPE pieces ("\u0120" = leading space). Each must be ONE token.
REPLY_PIECES = ["Hello", "\u0120from", "\u0120the", "\u0120tiny", "\u0120deterministic", "\u0120model", "."]

BOS_LIKE = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [BOS_LIKE, IM_START, IM_END]  # ids 0, 1, 2

VOCAB_SIZE = 320          # 3 specials + 256 byte symbols + ~61 merges
HIDDEN = 64
LAYERS = 2
HEADS = 4
INTERMEDIATE = 128
MAX_POS = 2048
LOGIT = 100.0             # logit of the intended next token; all others are 0
RMS_SCALE = float(np.sqrt(HIDDEN))  # RMSNorm(e_k) == sqrt(hidden) * e_k == 8 * e_k

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def build_corpus() -> list[str]:
    """Small built-in training corpus. The reply sentence dominates the pair counts,
    so the first merges build its words into single tokens."""
    reply_lines = [EXPECTED_REPLY] * 64
    other = [
        "hi",
        "hello",
        "Hi there, how are you?",
        "What is this model?",
        "This is a test.",
        "The quick brown fox jumps over the lazy dog.",
        "Say something.",
        "ok",
    ] * 4
    return reply_lines + other


def train_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(build_corpus(), trainer=trainer)
    return tok


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} HF_HOME", file=sys.stderr)
        return 2
    hf_home = Path(argv[1]).expanduser().resolve()

    # ---- tokenizer -------------------------------------------------------
    tok = train_tokenizer()
    vocab = tok.get_vocab(with_added_tokens=True)
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    assert vocab_size <= VOCAB_SIZE, vocab_size
    for i, s in enumerate(SPECIAL_TOKENS):
        assert vocab.get(s) == i, (s, vocab.get(s))
    eos_id = vocab[IM_END]

    missing = [p for p in REPLY_PIECES if p not in vocab]
    assert not missing, f"reply pieces are not single tokens: {missing}"
    reply_ids = [vocab[p] for p in REPLY_PIECES]
    assert len(set(reply_ids)) == len(reply_ids), f"reply token ids repeat: {reply_ids}"
    assert eos_id not in reply_ids
    enc = tok.encode(EXPECTED_REPLY, add_special_tokens=False)
    assert enc.ids == reply_ids, f"reply encodes as {enc.tokens}, expected {REPLY_PIECES}"
    assert tok.decode(reply_ids) == EXPECTED_REPLY, tok.decode(reply_ids)
    # The last prompt token (from '<|im_start|>assistant\n') must map to the start direction.
    gen_prompt = tok.encode(f"{IM_START}assistant\n", add_special_tokens=False).ids
    assert gen_prompt[-1] not in reply_ids, gen_prompt
    assert len(reply_ids) + 1 < HIDDEN

    # ---- weights ---------------------------------------------------------
    f32 = np.float32
    embed = np.zeros((vocab_size, HIDDEN), dtype=f32)
    embed[:, 0] = 1.0                      # shared "start" direction
    for i, tid in enumerate(reply_ids, start=1):
        embed[tid, 0] = 0.0
        embed[tid, i] = 1.0                # reply token i -> e_i
    lm_head = np.zeros((vocab_size, HIDDEN), dtype=f32)
    chain = reply_ids + [eos_id]           # e_0 -> T1, e_1 -> T2, ..., e_n -> EOS
    for k, nxt in enumerate(chain):
        lm_head[nxt, k] = LOGIT / RMS_SCALE

    weights: dict[str, np.ndarray] = {
        "model.embed_tokens.weight": embed,
        "model.norm.weight": np.ones((HIDDEN,), dtype=f32),
        "lm_head.weight": lm_head,
    }
    head_dim = HIDDEN // HEADS
    for layer in range(LAYERS):
        p = f"model.layers.{layer}"
        weights[f"{p}.input_layernorm.weight"] = np.ones((HIDDEN,), dtype=f32)
        weights[f"{p}.post_attention_layernorm.weight"] = np.ones((HIDDEN,), dtype=f32)
        for proj in ("q_proj", "k_proj", "v_proj"):
            weights[f"{p}.self_attn.{proj}.weight"] = np.zeros((HEADS * head_dim, HIDDEN), dtype=f32)
        weights[f"{p}.self_attn.o_proj.weight"] = np.zeros((HIDDEN, HEADS * head_dim), dtype=f32)
        weights[f"{p}.mlp.gate_proj.weight"] = np.zeros((INTERMEDIATE, HIDDEN), dtype=f32)
        weights[f"{p}.mlp.up_proj.weight"] = np.zeros((INTERMEDIATE, HIDDEN), dtype=f32)
        weights[f"{p}.mlp.down_proj.weight"] = np.zeros((HIDDEN, INTERMEDIATE), dtype=f32)

    # Self-check in numpy: greedy chain from any non-reply token reproduces the reply.
    def next_token(t: int) -> int:
        h = embed[t]
        h = h / np.sqrt(np.mean(h * h) + 1e-5)
        return int(np.argmax(lm_head @ h))
    t, out = gen_prompt[-1], []
    for _ in range(len(chain) + 2):
        t = next_token(t)
        if t == eos_id:
            break
        out.append(t)
    assert out == reply_ids and tok.decode(out) == EXPECTED_REPLY

    # ---- config / tokenizer config --------------------------------------
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": MAX_POS,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "vocab_size": vocab_size,
        "bos_token_id": vocab[BOS_LIKE],
        "eos_token_id": eos_id,
        "pad_token_id": vocab[BOS_LIKE],
        "torch_dtype": "float32",
    }
    added_tokens_decoder = {
        str(vocab[s]): {
            "content": s, "lstrip": False, "normalized": False,
            "rstrip": False, "single_word": False, "special": True,
        }
        for s in SPECIAL_TOKENS
    }
    tokenizer_config = {
        "add_bos_token": False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added_tokens_decoder,
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": IM_END,
        "errors": "replace",
        "model_max_length": MAX_POS,
        "pad_token": BOS_LIKE,
        "split_special_tokens": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": None,
    }
    special_tokens_map = {"eos_token": IM_END, "pad_token": BOS_LIKE}
    generation_config = {"eos_token_id": eos_id, "pad_token_id": vocab[BOS_LIKE]}
    readme = (
        "---\nlibrary_name: mlx\ntags:\n- mlx\n- test-fixture\npipeline_tag: text-generation\n---\n\n"
        f"# {MODEL_ID}\n\nGenerated test fixture. Always replies: {EXPECTED_REPLY}\n"
    )

    # ---- write -----------------------------------------------------------
    tok_json = json.loads(tok.to_str())
    files: dict[str, bytes] = {
        "config.json": _json_bytes(config),
        "tokenizer.json": _json_bytes(tok_json),
        "tokenizer_config.json": _json_bytes(tokenizer_config),
        "special_tokens_map.json": _json_bytes(special_tokens_map),
        "generation_config.json": _json_bytes(generation_config),
        "README.md": readme.encode("utf-8"),
    }
    repo = hf_home / "hub" / f"models--{ORG}--{NAME}"
    snap = repo / "snapshots" / SNAPSHOT_HASH
    snap.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (snap / name).write_bytes(data)
    # safetensors orders tensors itself; metadata "format": "mlx" as mlx-lm writes it.
    save_file(weights, str(snap / "model.safetensors"), metadata={"format": "mlx"})
    os.chmod(snap / "model.safetensors", 0o644)  # safetensors creates it 0600
    (repo / "refs" / "main").write_text(SNAPSHOT_HASH, encoding="utf-8")

    digests = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(snap.iterdir()) if p.is_file()
    }
    print(json.dumps({
        "model": MODEL_ID,
        "expected_reply": EXPECTED_REPLY,
        "snapshot": str(snap),
        "snapshot_hash": SNAPSHOT_HASH,
        "reply_token_ids": reply_ids,
        "eos_token_id": eos_id,
        "sha256": digests,
    }, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
