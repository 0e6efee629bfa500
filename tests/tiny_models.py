"""Tiny checkpoints of real architectures, built locally (no hub): real transformers classes, a
tokenizer trained with `tokenizers` on real dialogue text, a chat template, saved in the exact
on-disk layout users ship. Also the independent single-sequence references the tests compare to.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parent / "data"
"""Small real samples shipped with the tests (data/README.md: sources, licences, how they were cut)."""
HH = DATA / "hh_rlhf_harmless_base_test.jsonl.gz"

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
)
DECODER_SPECIALS = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
ENCODER_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def hh_texts(n: int = 200) -> list[str]:
    """The chosen dialogues of the first ``n`` rows of the HH-RLHF sample."""
    return list(_hh_chosen()[:n])


@functools.cache
def _hh_chosen() -> tuple[str, ...]:
    with gzip.open(HH, "rt", encoding="utf-8") as f:
        return tuple(json.loads(line)["chosen"] for line in f)


@functools.cache
def _trained_bpe() -> str:
    """The decoder tokenizer's trained BPE as JSON: trained once per process, each caller gets its own copy."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=DECODER_SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(hh_texts(), trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    return tok.to_str()


@functools.cache
def _trained_wordpiece() -> str:
    """The encoder tokenizer's trained WordPiece as JSON, as _trained_bpe."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(hh_texts(), trainers.WordPieceTrainer(vocab_size=600, special_tokens=ENCODER_SPECIALS))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tok.to_str()


def decoder_tokenizer(*, pad: bool = True, padding_side: str = "right"):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer.from_str(_trained_bpe())
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>" if pad else None,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        padding_side=padding_side,
        model_max_length=256,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def encoder_tokenizer():
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_trained_wordpiece()),
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        unk_token="[UNK]",
        mask_token="[MASK]",
        model_max_length=128,
    )


def _small(**kw):
    base = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    base.update(kw)
    return base


def decoder_config(arch: str, vocab: int, pad_id: int | None, bos: int, eos: int):
    import transformers as tf

    common = _small(
        vocab_size=vocab,
        max_position_embeddings=256,
        num_labels=1,
        pad_token_id=pad_id,
        bos_token_id=bos,
        eos_token_id=eos,
    )
    if arch == "llama":
        return tf.LlamaConfig(num_key_value_heads=2, **common), tf.LlamaForSequenceClassification
    if arch == "qwen2":
        return tf.Qwen2Config(num_key_value_heads=2, **common), tf.Qwen2ForSequenceClassification
    if arch == "mistral":
        return tf.MistralConfig(num_key_value_heads=2, **common), tf.MistralForSequenceClassification
    if arch == "gemma2":
        return tf.Gemma2Config(num_key_value_heads=2, head_dim=8, **common), tf.Gemma2ForSequenceClassification
    if arch == "gpt_neox":
        return tf.GPTNeoXConfig(**common), tf.GPTNeoXForSequenceClassification
    raise ValueError(arch)


def encoder_config(arch: str, vocab: int, pad_id: int):
    import transformers as tf

    common = _small(vocab_size=vocab, max_position_embeddings=128, num_labels=1, pad_token_id=pad_id)
    if arch == "bert":
        return tf.BertConfig(**common), tf.BertForSequenceClassification
    if arch == "deberta_v2":
        return (
            tf.DebertaV2Config(
                relative_attention=True,
                position_buckets=32,
                max_relative_positions=64,
                pos_att_type=["p2c", "c2p"],
                **common,
            ),
            tf.DebertaV2ForSequenceClassification,
        )
    raise ValueError(arch)


DECODERS = ("llama", "qwen2", "mistral", "gemma2", "gpt_neox")
ENCODERS = ("bert", "deberta_v2")


def _randomize_head(model, seed: int) -> None:
    # A freshly initialised head has tiny weights; larger ones make score differences visible.
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.startswith(("score", "classifier")) and p.dim() == 2:
            p.data = torch.randn(p.shape, generator=g) * 0.5


def build_classifier(
    out: Path,
    arch: str,
    *,
    pad: bool = True,
    padding_side: str = "right",
    seed: int = 0,
    labels: list[str] | None = None,
) -> Path:
    """A *ForSequenceClassification checkpoint folder: weights, config, tokenizer, chat template;
    ``labels`` makes a multi-label head with those id2label names."""
    torch.manual_seed(seed)
    if arch in ENCODERS:
        tok = encoder_tokenizer()
        cfg, cls = encoder_config(arch, len(tok), tok.pad_token_id)
    else:
        tok = decoder_tokenizer(pad=pad, padding_side=padding_side)
        cfg, cls = decoder_config(arch, len(tok), tok.pad_token_id, tok.bos_token_id, tok.eos_token_id)
    if labels:
        cfg.num_labels = len(labels)
        cfg.id2label = dict(enumerate(labels))
        cfg.label2id = {name: i for i, name in enumerate(labels)}
    model = cls(cfg).eval()
    _randomize_head(model, seed)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_openrlhf_value_head(
    out: Path,
    *,
    prefix: str = "score",
    normalize: bool = True,
    seed: int = 0,
    mean: float = 0.3,
    std: float = 2.0,
    legacy_config: bool = False,
) -> Path:
    """The layout OpenRLHF saves: backbone under 'model.', a bias-free linear head under `prefix`,
    value_head_prefix / normalize_reward / mean / std in config.json."""
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(seed)
    tok = decoder_tokenizer(pad=True)
    cfg = LlamaConfig(
        **_small(
            vocab_size=len(tok),
            max_position_embeddings=256,
            num_key_value_heads=2,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
        )
    )
    backbone = LlamaModel(cfg).eval()
    head = torch.randn(1, cfg.hidden_size, generator=torch.Generator().manual_seed(seed)) * 0.5
    state = {f"model.{k}": v.contiguous() for k, v in backbone.state_dict().items()}
    state[f"{prefix}.weight"] = head
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = cfg.to_dict()
    config["architectures"] = ["LlamaForCausalLM"] if legacy_config else ["RewardModel"]
    if not legacy_config:
        config.update(value_head_prefix=prefix, normalize_reward=normalize, mean=mean, std=std)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tok.save_pretrained(out)
    return out


# ---- independent references: one unpadded sequence, the library's own forward ----------------


def reference_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=True)["input_ids"]


def reference_conversation_ids(tokenizer, conversation) -> list[int]:
    out = tokenizer.apply_chat_template(conversation, tokenize=True)
    if isinstance(out, dict) or hasattr(out, "keys"):
        out = out["input_ids"]
    return list(out)


def reference_classifier_score(path: Path, ids: list[int]) -> float:
    """transformers' own pooling on a batch of one unpadded sequence (no pad id involved)."""
    return reference_classifier_logits(path, ids)[0]


def reference_classifier_logits(path: Path, ids: list[int]) -> list[float]:
    """Every label's logit, as reference_classifier_score reads the first."""
    from transformers import AutoModelForSequenceClassification

    model = _cached(path, lambda: AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval())
    model.config.pad_token_id = None
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].tolist()


def reference_value_head_score(path: Path, ids: list[int], *, normalize: bool) -> float:
    """OpenRLHF's computation: head over the last hidden states, read at the last token, normalized."""
    from safetensors.torch import load_file
    from transformers import AutoModel

    config = json.loads((path / "config.json").read_text())
    prefix = config.get("value_head_prefix", "value_head")
    model = _cached(path, lambda: AutoModel.from_pretrained(path, dtype=torch.float32).eval())
    head = load_file(str(path / "model.safetensors"))[f"{prefix}.weight"]
    with torch.no_grad():
        values = model(input_ids=torch.tensor([ids])).last_hidden_state[0] @ head.T
    reward = float(values[-1, 0])
    return (reward - config["mean"]) / config["std"] if normalize else reward


_MODELS: dict[str, object] = {}


def _cached(path: Path, make):
    key = str(path)
    if key not in _MODELS:
        _MODELS[key] = make()
    return _MODELS[key]
