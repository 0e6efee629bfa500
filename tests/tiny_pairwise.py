"""A tiny RLHFlow-style pairwise preference model, built and trained locally (no hub).

A real `LlamaForCausalLM` reads ``TEMPLATE`` sent as one user message through the chat template
(with the generation prompt) and answers "A" or "B". It is trained in the builder so that its
preference is known: a response made of GOOD_WORDS beats one made only of BAD_WORDS, whatever the
order. Also the independent single-sequence references the tests compare to.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import tiny_models
import torch

TEMPLATE = "[CONTEXT] {context} [RESPONSE A] {response_a} [RESPONSE B] {response_b} \n"
GOOD_WORDS = ("helpful", "correct", "thanks", "great", "kind")
BAD_WORDS = ("wrong", "rude", "useless", "awful", "mean")
PAIRWISE_CHAT_TEMPLATE = tiny_models.CHAT_TEMPLATE + "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"

_TRAIN_DOCS = slice(0, 150)  # contexts for training come from these hh_texts documents ...
_HELDOUT_DOCS = slice(150, 200)  # ... and held-out contexts from these, never seen in training
_MIN_ACCURACY = 0.95


def good_response(rng: random.Random) -> str:
    """1-3 words, all from GOOD_WORDS: the known winner against any bad_response."""
    return " ".join(rng.choice(GOOD_WORDS) for _ in range(rng.randint(1, 3)))


def bad_response(rng: random.Random) -> str:
    """1-3 words, all from BAD_WORDS."""
    return " ".join(rng.choice(BAD_WORDS) for _ in range(rng.randint(1, 3)))


def random_context(rng: random.Random, texts: list[str]) -> str:
    """A 10-30 character snippet of real dialogue text."""
    text = rng.choice(texts).strip()
    length = rng.randint(10, 30)
    start = rng.randint(0, max(0, len(text) - length))
    return text[start : start + length].strip() or "Hello"


def rlhflow_context(turns: list[str]) -> str:
    """RLHFlow's plain context template: alternating user/assistant turns."""
    body = "".join(f"\n\n<turn> {'user' if i % 2 == 0 else 'assistant'}\n {t}" for i, t in enumerate(turns))
    return "\n" + body + "\n\n\n"


def prompt_ids(tokenizer, context: str, response_a: str, response_b: str) -> list[int]:
    """RLHFlow's published inference: render the user message with the chat template (no generation
    prompt), drop the BOS text, encode without special tokens."""
    text = TEMPLATE.format(context=context, response_a=response_a, response_b=response_b)
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False)
    rendered = rendered.replace(tokenizer.bos_token, "")
    return tokenizer.encode(rendered, add_special_tokens=False)


def answer_ids(tokenizer) -> tuple[int, int]:
    ids = []
    for letter in ("A", "B"):
        enc = tokenizer.encode(letter, add_special_tokens=False)
        if len(enc) != 1:
            raise ValueError(f"{letter!r} must be exactly one token, got {enc}")
        ids.append(enc[0])
    return ids[0], ids[1]


def _examples(tokenizer, rng: random.Random, texts: list[str], n: int):
    """n pairs, each shown in both orders: (ids, index of the answer token: 0 for A, 1 for B)."""
    rows = []
    for _ in range(n):
        context, good, bad = rlhflow_context([random_context(rng, texts)]), good_response(rng), bad_response(rng)
        rows.append((prompt_ids(tokenizer, context, good, bad), 0))
        rows.append((prompt_ids(tokenizer, context, bad, good), 1))
    return rows


def _batch(rows, pad_id: int):
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, _) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        mask[i, : len(ids)] = 1
    last = mask.sum(1) - 1
    labels = torch.tensor([label for _, label in rows])
    return input_ids, mask, last, labels


def _last_logits(model, input_ids, mask, last):
    hidden = model.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    return model.lm_head(hidden[torch.arange(len(last)), last])


def build_pairwise_lm(out: Path, seed: int = 0, *, steps: int = 150, verbose: bool = False) -> Path:
    """A LlamaForCausalLM checkpoint folder trained to prefer GOOD_WORDS responses in both orders.

    Raises RuntimeError if held-out accuracy (both orders, unseen contexts) is below 0.95.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tok = tiny_models.decoder_tokenizer(pad=True)
    tok.chat_template = PAIRWISE_CHAT_TEMPLATE
    cfg = LlamaConfig(
        **tiny_models._small(
            hidden_size=32,
            intermediate_size=64,
            vocab_size=len(tok),
            max_position_embeddings=256,
            num_key_value_heads=2,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            tie_word_embeddings=False,
        )
    )
    model = LlamaForCausalLM(cfg)
    id_a, id_b = answer_ids(tok)
    targets = torch.tensor([id_a, id_b])

    texts = tiny_models.hh_texts(200)
    train = _examples(tok, rng, texts[_TRAIN_DOCS], 1024)
    heldout = _batch(_examples(tok, rng, texts[_HELDOUT_DOCS], 200), tok.pad_token_id)

    opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-3, total_steps=steps, pct_start=0.1)
    model.train()
    batch_size = 32
    order = list(range(len(train)))
    for step in range(steps):
        if step % (len(train) // batch_size) == 0:
            rng.shuffle(order)
        start = (step % (len(train) // batch_size)) * batch_size
        input_ids, mask, last, labels = _batch([train[i] for i in order[start : start + batch_size]], tok.pad_token_id)
        loss = torch.nn.functional.cross_entropy(_last_logits(model, input_ids, mask, last), targets[labels])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if verbose and step % 25 == 0:
            print(f"step {step} loss {loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        logits = _last_logits(model, *heldout[:3])
    predicted = (logits[:, id_b] > logits[:, id_a]).long()
    accuracy = float((predicted == heldout[3]).float().mean())
    if verbose:
        print(f"held-out accuracy {accuracy:.4f}, trained in {time.perf_counter() - started:.1f}s")
    if accuracy < _MIN_ACCURACY:
        raise RuntimeError(
            f"tiny pairwise model failed to learn its preference: held-out accuracy {accuracy:.3f} < "
            f"{_MIN_ACCURACY} (seed={seed}, steps={steps})"
        )
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


# ---- independent references: one unpadded sequence, transformers' own forward -----------------


def reference_prob_a(path: Path, context: str, response_a: str, response_b: str, *, temperature: float = 1.0) -> float:
    """P(response A is better), one order only: softmax([logit_A, logit_B] / T)[0] at the last position."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = tiny_models._cached(f"{path}#tokenizer", lambda: AutoTokenizer.from_pretrained(path))
    model = tiny_models._cached(path, lambda: AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval())
    ids = prompt_ids(tok, context, response_a, response_b)
    id_a, id_b = answer_ids(tok)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    pair = torch.stack([logits[id_a], logits[id_b]]) / temperature
    return float(torch.softmax(pair, dim=0)[0])


def reference_preference(path: Path, context: str, a: str, b: str, *, temperature: float = 1.0) -> float:
    """P(a better than b), averaged over both orders: (P_A(a, b) + 1 - P_A(b, a)) / 2."""
    forward = reference_prob_a(path, context, a, b, temperature=temperature)
    backward = reference_prob_a(path, context, b, a, temperature=temperature)
    return (forward + 1.0 - backward) / 2.0


if __name__ == "__main__":
    import tempfile

    out = Path(tempfile.mkdtemp(prefix="tiny_pairwise_")) / "pairwise_lm"
    t0 = time.perf_counter()
    build_pairwise_lm(out, verbose=True)
    print(f"build: {time.perf_counter() - t0:.2f}s -> {out}")
    rng = random.Random(123)
    texts = tiny_models.hh_texts(200)[_HELDOUT_DOCS]
    for _ in range(3):
        ctx, good, bad = rlhflow_context([random_context(rng, texts)]), good_response(rng), bad_response(rng)
        print(f"context={ctx!r} good={good!r} bad={bad!r}")
        print(f"  P_A(good, bad)={reference_prob_a(out, ctx, good, bad):.4f}")
        print(f"  P_A(bad, good)={reference_prob_a(out, ctx, bad, good):.4f}")
        print(f"  pref(good, bad)={reference_preference(out, ctx, good, bad):.4f}")
        print(f"  pref(bad, good)={reference_preference(out, ctx, bad, good):.4f}")
