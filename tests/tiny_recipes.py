"""Tiny checkpoints of the model families rewardkit reads by recipe (src/rewardkit/models/recipes/),
each in the family's real on-disk layout (architecture class, config keys, tokenizer kind and
special tokens, chat template, custom-code files where the family ships them), and independent
references that follow each model card's snippet step by step on one unpadded sequence.

Tokenizers are trained here with `tokenizers` on real dialogue text plus step-by-step arithmetic
solutions, in the kind each family ships: sentencepiece-style (Metaspace, BOS added) for Mistral
and InternLM2, byte-level BPE with Llama 3's split pattern and header tokens for Llama-3.1, ChatML
byte-level BPE for a Qwen2-style verifier. References never import rewardkit.
"""

from __future__ import annotations

import functools
import json
import random
import shutil
from pathlib import Path

import tiny_models
import torch
from tiny_custom import cached

CUSTOM_CODE = Path(__file__).resolve().parent / "custom_code"

STEP_TAG = "ки"
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
    r"\s+(?!\S)|\s+"
)
LLAMA3_SPECIALS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
]
# Llama 3.1's template for plain conversations (no tools): BOS, a system header with the knowledge
# and today dates, then every message as a header, its trimmed content and <|eot_id|>.
LLAMA31_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if not date_string is defined %}{%- set date_string = '26 Jul 2024' %}{%- endif %}"
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}"
    "{%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"
    "{{- 'Cutting Knowledge Date: December 2023\\n' }}"
    "{{- 'Today Date: ' + date_string + '\\n\\n' }}"
    "{{- system_message }}{{- '<|eot_id|>' }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim "
    "+ '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
INTERNLM2_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
INTERNLM2_REWARD_TOKEN = "[UNUSED_TOKEN_130]"
ATHENE_CLS = "<|reserved_special_token_1|>"
YI_SPECIALS = ["<unk>", "<|startoftext|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# ---- text ----------------------------------------------------------------------------------------


def question(rng: random.Random) -> str:
    a, b, c = rng.randint(2, 60), rng.randint(2, 60), rng.randint(2, 9)
    return rng.choice(
        [
            f"Janet has {a} apples and buys {b} more, then gives away {c}. How many apples does she have?",
            f"A train travels {a} miles in the morning and {b} miles in the afternoon. What is the total?",
            f"What is {a} + {b} - {c}?",
        ]
    )


def steps(rng: random.Random, n: int | None = None) -> list[str]:
    """Arithmetic steps, some right and some wrong, with a little dialogue text mixed in."""
    texts = tiny_models.hh_texts(40)
    out = []
    for k in range(n if n is not None else rng.randint(1, 5)):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        result = a + b + (0 if rng.random() < 0.7 else rng.randint(1, 5))
        text = f"Step {k + 1}: {a} + {b} = {result}."
        if rng.random() < 0.3:
            snippet = rng.choice(texts)
            start = rng.randint(0, max(0, len(snippet) - 40))
            text += " " + " ".join(snippet[start : start + 40].split())
        out.append(text)
    return out


def shepherd_answer(rng: random.Random, n: int | None = None) -> str:
    """Steps each ending in ' ки', one a line, as in the Math-Shepherd data and card."""
    return "\n".join(f"{s} {STEP_TAG}" for s in steps(rng, n))


def _corpus(seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    lines = list(tiny_models.hh_texts())
    for _ in range(300):
        lines.append(f"{question(rng)} {shepherd_answer(rng)}")
        lines.append("\n\n".join(steps(rng)))
        lines.append(rng.choice(["Yes", "No", "Yes.", "No.", "Answer: Yes", "Answer: No"]) + " + - + -")
    return lines


# ---- tokenizers ----------------------------------------------------------------------------------


def _bpe(pre_tokenizer, decoder, specials: list[str], prepend: str | None):
    from tokenizers import Tokenizer, models, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoder
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(_corpus(), trainer)
    if prepend is not None:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{prepend} $A", special_tokens=[(prepend, tok.token_to_id(prepend))]
        )
    return tok


@functools.cache
def _sentencepiece_like(extra: tuple[str, ...] = ()) -> str:
    """Metaspace pieces ('▁' marks a word start) with newlines on their own, BOS <s> added: how a
    Llama/Mistral sentencepiece tokenizer splits text."""
    from tokenizers import Regex, decoders, pre_tokenizers

    pre = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex("\n"), behavior="isolated"), pre_tokenizers.Metaspace(prepend_scheme="first")]
    )
    return _bpe(pre, decoders.Metaspace(), ["<unk>", "<s>", "</s>", *extra], "<s>").to_str()


@functools.cache
def _yi_like() -> str:
    """Yi's kind: sentencepiece-style pieces, <unk> as id 0, ChatML specials, no BOS added."""
    from tokenizers import Regex, decoders, pre_tokenizers

    pre = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex("\n"), behavior="isolated"), pre_tokenizers.Metaspace(prepend_scheme="first")]
    )
    return _bpe(pre, decoders.Metaspace(), YI_SPECIALS, None).to_str()


@functools.cache
def _llama3_like(extra: tuple[str, ...] = ()) -> str:
    from tokenizers import Regex, decoders, pre_tokenizers

    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    return _bpe(pre, decoders.ByteLevel(), [*LLAMA3_SPECIALS, *extra], "<|begin_of_text|>").to_str()


@functools.cache
def _chatml_like() -> str:
    from tokenizers import Regex, decoders, pre_tokenizers

    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    return _bpe(pre, decoders.ByteLevel(), ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None).to_str()


def _fast(json_text: str, **kwargs):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json_text), model_max_length=256, **kwargs)


def mistral_tokenizer():
    """As math-shepherd-mistral-7b-prm's: <unk> <s> </s>, BOS added, no pad token, no chat template."""
    return _fast(_sentencepiece_like(), bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def llama31_tokenizer():
    """As Llama-3.1's: <|begin_of_text|> added, eos <|eot_id|>, no pad token, the 3.1 chat template."""
    tok = _fast(_llama3_like(), bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
    tok.chat_template = LLAMA31_TEMPLATE
    return tok


def athene_tokenizer():
    """As Athene-RM's: Llama-3.1's, with <|reserved_special_token_1|> as its cls_token."""
    tok = _fast(
        _llama3_like((ATHENE_CLS,)),
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        cls_token=ATHENE_CLS,
    )
    tok.chat_template = LLAMA31_TEMPLATE
    return tok


def yi_tokenizer():
    """As Yi-34B-Chat's (Starling-RM-34B's card uses it): <unk> (id 0) pads, no BOS added, ChatML
    template that ends every turn with a newline."""
    tok = _fast(
        _yi_like(),
        bos_token="<|startoftext|>",
        eos_token="<|im_end|>",
        unk_token="<unk>",
        pad_token="<unk>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tok.chat_template = INTERNLM2_TEMPLATE.replace("{{ bos_token }}", "")
    return tok


def qwen2_tokenizer():
    """As Qwen2's: no BOS, <|endoftext|> pads, eos <|im_end|>, ChatML template with a generation prompt."""
    tok = _fast(
        _chatml_like(),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tok.chat_template = CHATML_TEMPLATE
    return tok


def internlm2_tokenizer():
    """As InternLM2's: sentencepiece-style, <s> added, <|im_start|>/<|im_end|> and the reward token
    as special tokens, the InternLM2 chat template (it writes BOS itself)."""
    specials = ("<|im_start|>", "<|im_end|>", INTERNLM2_REWARD_TOKEN)
    tok = _fast(
        _sentencepiece_like(specials),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="</s>",
        additional_special_tokens=list(specials),
    )
    tok.chat_template = INTERNLM2_TEMPLATE
    return tok


# ---- checkpoints ---------------------------------------------------------------------------------


def _small(**kw):
    return {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 256,
        **kw,
    }


def _causal_lm(out: Path, config, tok, seed: int) -> Path:
    """A *ForCausalLM with an LM head large enough that its logits differ visibly, saved with
    save_pretrained (untied heads as lm_head.weight), and its tokenizer."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).eval()
    g = torch.Generator().manual_seed(seed)
    head = model.get_output_embeddings()
    head.weight.data = torch.randn(head.weight.shape, generator=g) * 0.15
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_math_shepherd(out: Path, *, seed: int = 0) -> Path:
    """peiyi9979/math-shepherd-mistral-7b-prm's layout: MistralForCausalLM (sliding_window 4096),
    a sentencepiece-style tokenizer without pad token or chat template."""
    from transformers import MistralConfig

    tok = mistral_tokenizer()
    cfg = MistralConfig(
        **_small(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id),
        sliding_window=4096,
        tie_word_embeddings=False,
    )
    return _causal_lm(out, cfg, tok, seed)


def _llama31(out: Path, seed: int) -> Path:
    from transformers import LlamaConfig

    tok = llama31_tokenizer()
    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}
    cfg = LlamaConfig(
        **_small(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id),
        rope_theta=500000.0,
        rope_scaling={**rope, "original_max_position_embeddings": 128},
        tie_word_embeddings=False,
    )
    return _causal_lm(out, cfg, tok, seed)


def build_rlhflow_prm(out: Path, *, seed: int = 1) -> Path:
    """RLHFlow/Llama3.1-8B-PRM-*-Data's layout: LlamaForCausalLM with llama3 rope scaling, a Llama-3.1
    tokenizer (no pad token) and chat template."""
    return _llama31(out, seed)


def build_nemotron_reward(out: Path, *, seed: int = 2) -> Path:
    """nvidia/Llama-3.1-Nemotron-70B-Reward-HF's layout: the same Llama-3.1 causal LM layout."""
    return _llama31(out, seed)


def build_qwen2_verifier(out: Path, *, seed: int = 3) -> Path:
    """A Qwen2-style instruct causal LM used as a verifier: tied embeddings, ChatML template."""
    from transformers import Qwen2Config

    tok = qwen2_tokenizer()
    cfg = Qwen2Config(
        **_small(vocab_size=len(tok), eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    model.get_input_embeddings().weight.data = torch.randn(len(tok), 32, generator=g) * 0.15
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_internlm2_reward(out: Path, *, seed: int = 4) -> Path:
    """internlm/internlm2-*-reward's layout: model.safetensors with ``model.tok_embeddings``,
    ``model.layers.N.attention.wqkv/wo``, ``model.layers.N.feed_forward.w1/w2/w3``,
    ``model.layers.N.attention_norm/ffn_norm``, ``model.norm`` and ``v_head.weight`` [1, H];
    config.json model_type internlm2, architectures InternLM2ForRewardModel, auto_map AutoConfig/AutoModel
    to configuration_internlm2.py / modeling_internlm2.py, reward_token_id; written from seeded
    tensors, never through the modeling file."""
    from safetensors.torch import save_file

    tok = internlm2_tokenizer()
    hidden, heads, kv, inter, layers = 32, 4, 2, 64, 2
    head_dim = hidden // heads
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=0.2):
        return (torch.randn(*shape, generator=g) * scale).contiguous()

    state = {"model.tok_embeddings.weight": randn(len(tok), hidden, scale=0.5), "model.norm.weight": 1 + randn(hidden)}
    for i in range(layers):
        p = f"model.layers.{i}."
        state[p + "attention.wqkv.weight"] = randn((heads + 2 * kv) * head_dim, hidden)
        state[p + "attention.wo.weight"] = randn(hidden, heads * head_dim)
        state[p + "feed_forward.w1.weight"] = randn(inter, hidden)
        state[p + "feed_forward.w3.weight"] = randn(inter, hidden)
        state[p + "feed_forward.w2.weight"] = randn(hidden, inter)
        state[p + "attention_norm.weight"] = 1 + randn(hidden)
        state[p + "ffn_norm.weight"] = 1 + randn(hidden)
    state["v_head.weight"] = randn(1, hidden, scale=0.5)
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["InternLM2ForRewardModel"],
        "auto_map": {
            "AutoConfig": "configuration_internlm2.InternLM2Config",
            "AutoModel": "modeling_internlm2.InternLM2ForRewardModel",
        },
        "model_type": "internlm2",
        "vocab_size": len(tok),
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "hidden_act": "silu",
        "max_position_embeddings": 256,
        "rms_norm_eps": 1e-05,
        "rope_theta": 1000000,
        "rope_scaling": None,
        "bias": False,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
        "reward_token_id": tok.convert_tokens_to_ids(INTERNLM2_REWARD_TOKEN),
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    for name in ("configuration_internlm2.py", "modeling_internlm2.py"):
        shutil.copyfile(CUSTOM_CODE / name, out / name)
    tok.save_pretrained(out)
    return out


def build_inf_orm(out: Path, *, seed: int = 5) -> Path:
    """infly/INF-ORM-Llama3.1-70B's layout: ``model.*`` (LlamaModel) and the score head ``score.0.*``
    (Linear h->h) and ``score.2.*`` (Linear h->1); config.json the Llama config with architectures
    INFORMForSequenceClassification (the class is defined on the card, no auto_map); a Llama-3.1
    tokenizer and template. Written from the backbone's state dict and seeded head tensors."""
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaModel

    tok = llama31_tokenizer()
    cfg = LlamaConfig(**_small(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id))
    torch.manual_seed(seed)
    backbone = LlamaModel(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    state = {f"model.{k}": v.detach().clone().contiguous() for k, v in backbone.state_dict().items()}
    state["score.0.weight"] = torch.randn(32, 32, generator=g) * 0.3
    state["score.0.bias"] = torch.randn(32, generator=g) * 0.1
    state["score.2.weight"] = torch.randn(1, 32, generator=g) * 0.5
    state["score.2.bias"] = torch.randn(1, generator=g) * 0.1
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {**cfg.to_dict(), "architectures": ["INFORMForSequenceClassification"], "num_labels": 1}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tok.save_pretrained(out)
    return out


def _backbone_and_head(out: Path, cfg, tok, prefix: str, architecture: str, seed: int, head: str = "v_head") -> Path:
    """A decoder's state dict under ``prefix`` plus a bias-free ``{head}.weight`` [1, H], config.json
    naming ``architecture``: the layout of a reward class defined on a model card."""
    from safetensors.torch import save_file
    from transformers import AutoModel

    torch.manual_seed(seed)
    backbone = AutoModel.from_config(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    state = {f"{prefix}.{k}": v.detach().clone().contiguous() for k, v in backbone.state_dict().items()}
    state[f"{head}.weight"] = torch.randn(1, cfg.hidden_size, generator=g) * 0.5
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {**cfg.to_dict(), "architectures": [architecture]}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tok.save_pretrained(out)
    return out


def build_athene_rm(out: Path, *, seed: int = 6) -> Path:
    """Nexusflow/Athene-RM-8B's layout: ``model.*`` (LlamaModel) and ``v_head.weight``; config.json
    the Llama config with architectures CustomAutoModelForSequenceClassification (no auto_map, no
    code); a Llama-3.1 tokenizer and template with ``cls_token`` <|reserved_special_token_1|>."""
    from transformers import LlamaConfig

    tok = athene_tokenizer()
    cfg = LlamaConfig(**_small(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id))
    return _backbone_and_head(out, cfg, tok, "model", "CustomAutoModelForSequenceClassification", seed)


def build_starling_rm(out: Path, *, seed: int = 7) -> Path:
    """Nexusflow/Starling-RM-34B's layout: ``transformer.*`` (LlamaModel) and ``v_head.weight``;
    config.json architectures LlamaForSequenceClassification, pad id 0; a Yi-style tokenizer."""
    from transformers import LlamaConfig

    tok = yi_tokenizer()
    cfg = LlamaConfig(
        **_small(vocab_size=len(tok), pad_token_id=0, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    )
    return _backbone_and_head(out, cfg, tok, "transformer", "LlamaForSequenceClassification", seed)


def build_ultrarm(out: Path, *, seed: int = 8) -> Path:
    """openbmb/UltraRM-13b's layout: ``model.*`` (LlamaModel) and ``regression_head.weight`` [1, H];
    config.json the Llama config with architectures LlamaRewardModel (the card's class, no auto_map);
    a Llama-2 sentencepiece-style tokenizer (BOS added)."""
    from transformers import LlamaConfig

    tok = mistral_tokenizer()
    cfg = LlamaConfig(**_small(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id))
    return _backbone_and_head(out, cfg, tok, "model", "LlamaRewardModel", seed, head="regression_head")


def build_eurus_rm(out: Path, *, seed: int = 9) -> Path:
    """openbmb/Eurus-RM-7b's layout: ``model.*`` (MistralModel) and ``regression_head.weight``;
    config.json model_type mistral, architectures EurusRewardModel, auto_map AutoModel to
    modeling_eurus_rm.EurusRewardModel (the file is written beside it); a Mistral tokenizer."""
    from transformers import MistralConfig

    tok = mistral_tokenizer()
    cfg = MistralConfig(**_small(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id))
    _backbone_and_head(out, cfg, tok, "model", "EurusRewardModel", seed, head="regression_head")
    config = json.loads((out / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_eurus_rm.EurusRewardModel"}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copyfile(CUSTOM_CODE / "modeling_eurus_rm.py", out / "modeling_eurus_rm.py")
    return out


def build_grm(out: Path, *, seed: int = 10) -> Path:
    """Ray2333/GRM-Llama3.2-3B-rewardmodel-ft's layout: a transformers LlamaForSequenceClassification
    (``model.*``, ``score.weight`` [1, H], num_labels 1), a Llama-3.1 tokenizer with a pad token and
    the 3.1 template (which writes BOS; the tokenizer adds one too)."""
    from transformers import AutoModelForSequenceClassification, LlamaConfig

    tok = llama31_tokenizer()
    tok.add_special_tokens({"pad_token": "<|finetune_right_pad_id|>"})  # the card pads ('longest')
    cfg = LlamaConfig(
        **_small(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id),
        pad_token_id=tok.pad_token_id,
        num_labels=1,
    )
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    model.score.weight.data = torch.randn(model.score.weight.shape, generator=g) * 0.5
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


BUILDERS = {
    "math_shepherd": build_math_shepherd,
    "rlhflow_prm": build_rlhflow_prm,
    "nemotron_reward": build_nemotron_reward,
    "qwen2_verifier": build_qwen2_verifier,
    "internlm2_reward": build_internlm2_reward,
    "inf_orm": build_inf_orm,
    "athene_rm": build_athene_rm,
    "starling_rm": build_starling_rm,
    "ultrarm": build_ultrarm,
    "eurus_rm": build_eurus_rm,
    "grm": build_grm,
}

# ---- independent references: each card's snippet, one unpadded sequence --------------------------


def _tokenizer(path: Path):
    from transformers import AutoTokenizer

    return cached(path, "tokenizer", lambda: AutoTokenizer.from_pretrained(path))


def _causal(path: Path):
    from transformers import AutoModelForCausalLM

    return cached(path, "causal", lambda: AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval())


def _template_ids(out) -> list[int]:
    """apply_chat_template(tokenize=True) returns a dict on transformers 5, a list before."""
    if hasattr(out, "keys"):
        out = out["input_ids"]
    if hasattr(out, "tolist"):
        out = out.tolist()
    return list(out[0]) if out and isinstance(out[0], list) else list(out)


def reference_math_shepherd(path: Path, question_text: str, answer: str) -> list[float]:
    """The Math-Shepherd card: candidate_tokens = encode("+ -")[1:]; step_tag_id = encode("ки")[-1];
    input_id = encode(f"{question} {output}"); logits of the candidates at every position; softmax;
    P("+") where the input is the step tag."""
    tokenizer, model = _tokenizer(path), _causal(path)
    candidate_tokens = tokenizer.encode("+ -")[1:]
    step_tag_id = tokenizer.encode(STEP_TAG)[-1]
    input_id = torch.tensor([tokenizer.encode(f"{question_text} {answer}")])
    with torch.no_grad():
        logits = model(input_id).logits[:, :, candidate_tokens]
        scores = logits.softmax(dim=-1)[:, :, 0]
        step_scores = scores[input_id == step_tag_id]
    return step_scores.tolist()


def reference_math_shepherd_last(path: Path, question_text: str, answer: str) -> float:
    """P('+') at the last position of the card's text (the reward rewardkit documents when no step tag)."""
    tokenizer, model = _tokenizer(path), _causal(path)
    candidate_tokens = tokenizer.encode("+ -")[1:]
    input_id = torch.tensor([tokenizer.encode(f"{question_text} {answer}")])
    with torch.no_grad():
        return float(model(input_id).logits[0, -1, candidate_tokens].softmax(dim=-1)[0])


def reference_rlhflow(path: Path, prompt: str, answer: str, separator: str = "\n\n") -> list[float]:
    """RLHFlow's prm_evaluate.py: split the answer, strip each step; grow the conversation one step
    (user) and one '+' (assistant) at a time; apply_chat_template on each prefix, one forward each,
    the logits at position -3 over [encode('+')[-1], encode('-')[-1]], softmax, P('+')."""
    tokenizer, model = _tokenizer(path), _causal(path)
    candidate_tokens = [tokenizer.encode("+")[-1], tokenizer.encode("-")[-1]]
    ans_list = [j.strip() for j in answer.split(separator)]
    conversation, single_step_score = [], []
    for k in range(len(ans_list)):
        text = prompt + " " + ans_list[0] if k == 0 else ans_list[k]
        conversation.append({"content": text, "role": "user"})
        conversation.append({"content": "+", "role": "assistant"})
        input_ids = torch.tensor([_template_ids(tokenizer.apply_chat_template(conversation))])
        with torch.no_grad():
            logits = model(input_ids).logits[:, -3, candidate_tokens]
            scores = logits.softmax(dim=-1)[:, 0]
        single_step_score.append(float(scores[0]))
    return single_step_score


def reference_nemotron(path: Path, messages: list[dict[str, str]]) -> float:
    """The Nemotron-Reward card: apply_chat_template(tokenize=True, return_dict=True), generate one
    token with output_scores, the reward is scores[0][0][0]."""
    tokenizer, model = _tokenizer(path), _causal(path)
    tokenized = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=False, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        response_token_ids = model.generate(
            tokenized["input_ids"],
            attention_mask=tokenized["attention_mask"],
            max_new_tokens=1,
            return_dict_in_generate=True,
            output_scores=True,
            do_sample=False,
            pad_token_id=tokenizer.eos_token_id,
        )
    return float(response_token_ids["scores"][0][0][0])


def reference_verifier(path: Path, judge_prompt: str, tokens=("Yes", "No"), output="probability") -> float:
    """A generative verifier: the judge question as one user message with the generation prompt,
    next-token logits of the two answer tokens; P(yes) / (P(yes) + P(no)), or their difference."""
    tokenizer, model = _tokenizer(path), _causal(path)
    ids = _template_ids(
        tokenizer.apply_chat_template([{"role": "user", "content": judge_prompt}], add_generation_prompt=True)
    )
    yes, no = (tokenizer.encode(t, add_special_tokens=False)[0] for t in tokens)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    if output == "logit-diff":
        return float(logits[yes] - logits[no])
    p_yes, p_no = logits.softmax(dim=-1)[[yes, no]].tolist()
    return p_yes / (p_yes + p_no)


def reference_internlm2(path: Path, conversation: list[dict[str, str]]) -> float:
    """The InternLM2-Reward card: model.get_score(tokenizer, chat), the checkpoint's own code."""
    from transformers import AutoModel

    tokenizer = _tokenizer(path)
    model = cached(
        path, "remote", lambda: AutoModel.from_pretrained(path, trust_remote_code=True, dtype=torch.float32).eval()
    )
    return float(model.get_score(tokenizer, conversation))


def reference_inf_orm(path: Path, conversation: list[dict[str, str]]) -> float:
    """The INF-ORM card: its INFORMForSequenceClassification (a LlamaModel and a Linear-ReLU-Linear
    ``score``, pooled at the token before the first pad id, i.e. the last token of an unpadded
    sequence), apply_chat_template(conv, tokenize=True), logits[0][0]."""
    from torch import nn
    from transformers import LlamaModel, LlamaPreTrainedModel

    class INFORMForSequenceClassification(LlamaPreTrainedModel):
        def __init__(self, config):
            super().__init__(config)
            self.model = LlamaModel(config)
            self.score = nn.Sequential(
                nn.Linear(config.hidden_size, config.hidden_size), nn.ReLU(), nn.Linear(config.hidden_size, 1)
            )
            self.post_init()

        def forward(self, input_ids):
            logits = self.score(self.model(input_ids).last_hidden_state)
            if self.config.pad_token_id is None:
                last = -1
            else:
                last = (torch.eq(input_ids, self.config.pad_token_id).int().argmax(-1) - 1) % input_ids.shape[-1]
            return logits[torch.arange(input_ids.shape[0]), last]

    tokenizer = _tokenizer(path)
    model = cached(
        path, "inf_orm", lambda: INFORMForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
    )
    ids = _template_ids(tokenizer.apply_chat_template(conversation, tokenize=True))
    with torch.no_grad():
        return float(model(torch.tensor([ids]))[0][0])


def _v_head_class(prefix: str, read):
    """A card's class: a LlamaModel under ``prefix``, a bias-free v_head over its last hidden state
    (``hidden_states[-1]``), the reward at the position ``read(input_ids)`` picks."""
    from torch import nn
    from transformers import LlamaModel, LlamaPreTrainedModel

    class CardRewardModel(LlamaPreTrainedModel):
        def __init__(self, config):
            super().__init__(config)
            setattr(self, prefix, LlamaModel(config))
            self.v_head = nn.Linear(config.hidden_size, 1, bias=False)
            self.post_init()

        def forward(self, input_ids):
            hidden_states = getattr(self, prefix)(input_ids, output_hidden_states=True).hidden_states[-1]
            rewards = self.v_head(hidden_states).squeeze(-1)
            return rewards[0, read(input_ids[0])]

    return CardRewardModel


def reference_athene(path: Path, conversation: list[dict[str, str]]) -> float:
    """The Athene-RM card: its pipeline's preprocessing (apply_chat_template(tokenize=False), then the
    tokenizer's cls_token appended, then tokenizer(formatted) with special tokens), its class's
    forward: v_head over hidden_states[-1], read at the last position holding the CLS id."""
    tokenizer = _tokenizer(path)
    cls_id = tokenizer.convert_tokens_to_ids(tokenizer.cls_token)

    def last_cls(ids):
        return (ids == cls_id).nonzero()[-1].item()

    model = cached(path, "athene", lambda: _v_head_class("model", last_cls).from_pretrained(path).eval())
    formatted = tokenizer.apply_chat_template(conversation, tokenize=False) + tokenizer.cls_token
    input_ids = tokenizer(formatted, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return float(model(input_ids))


def starling_text(conversation: list[dict[str, str]]) -> str:
    """The Starling-RM-34B card's sample format, e.g.
    '<|im_start|>user\\nHello!<|im_end|>\\n<|im_start|>assistant\\nHi!<|im_end|>'."""
    return "\n".join("<|im_start|>" + m["role"] + "\n" + m["content"] + "<|im_end|>" for m in conversation)


def reference_starling(path: Path, conversation: list[dict[str, str]]) -> float:
    """The Starling-RM-34B card: reward_tokenizer(samples) on the card's text; its class reads v_head
    at the token before the first id 0 (PAD_ID), the whole length when there is none."""

    def before_first_pad(ids):
        c_inds = (ids == 0).nonzero()
        return (c_inds[0].item() if len(c_inds) > 0 else ids.shape[0]) - 1

    tokenizer = _tokenizer(path)
    model = cached(
        path, "starling", lambda: _v_head_class("transformer", before_first_pad).from_pretrained(path).eval()
    )
    input_ids = tokenizer(starling_text(conversation), return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return float(model(input_ids))


def reference_openbmb(path: Path, text: str) -> float:
    """The UltraRM-13b / Eurus-RM-7b cards: ``model(**tokenizer(text, return_tensors="pt")).item()``
    on the card's text, the class reading regression_head where attention_mask.cumsum(1).argmax(1)
    points. The class as the cards define it, over the checkpoint's own backbone type."""
    from torch import nn
    from transformers import AutoConfig, AutoModel, PreTrainedModel

    class OpenBMBRewardModel(PreTrainedModel):
        config_class = AutoConfig

        def __init__(self, config):
            super().__init__(config)
            self.model = AutoModel.from_config(config)
            self.regression_head = nn.Linear(config.hidden_size, 1, bias=False)
            self.post_init()

        def forward(self, input_ids, attention_mask):
            hidden_states = self.model(input_ids, attention_mask=attention_mask)[0]
            rewards = self.regression_head(hidden_states).squeeze(-1)
            ends = attention_mask.cumsum(dim=1).argmax(dim=1).view(-1, 1)
            return torch.gather(rewards, 1, ends)

    def make():
        config = AutoConfig.from_pretrained(path)
        config.auto_map = {}
        return OpenBMBRewardModel.from_pretrained(path, config=config).eval()

    tokenizer = _tokenizer(path)
    model = cached(path, "openbmb", make)
    with torch.no_grad():
        return float(model(**tokenizer(text, return_tensors="pt")))


def ultrarm_text(prompt: str, response: str) -> str:
    """UltraRM-13b's card: 'Human: {instruction}\\nAssistant: {completion}'."""
    return "Human: " + prompt + "\nAssistant: " + response


def eurus_text(prompt: str, response: str) -> str:
    """Eurus-RM-7b's card: '[INST] {instruction} [/INST] {completion}'."""
    return "[INST] " + prompt + " [/INST] " + response


def reference_grm(path: Path, messages: list[dict[str, str]]) -> float:
    """The GRM-*-rewardmodel-ft cards: message_template = apply_chat_template(messages, tokenize=False);
    tokens = tokenizer.encode_plus(message_template, padding="longest", truncation=True,
    return_tensors="pt"); the AutoModelForSequenceClassification's logits [0][0]."""
    from transformers import AutoModelForSequenceClassification

    tokenizer = _tokenizer(path)
    model = cached(
        path, "grm", lambda: AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
    )
    message_template = tokenizer.apply_chat_template(messages, tokenize=False)
    # encode_plus(text) as the card calls it; transformers 5 keeps only __call__, which does the same
    tokens = tokenizer(message_template, padding="longest", truncation=True, return_tensors="pt")
    with torch.no_grad():
        reward_tensor = model(
            tokens["input_ids"][0].view(1, -1), attention_mask=tokens["attention_mask"][0].view(1, -1)
        )[0]
    return float(reward_tensor[0][0])
