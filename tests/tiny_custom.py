"""Tiny checkpoints in the on-disk layouts that custom reward models ship (remote code behind
``auto_map``, multi-objective gating, token-level and process reward heads, TRL token
classification PRMs, DeepSpeed-Chat and trlx ``pytorch_model.bin`` value heads), each with an
independent single-sequence reference that reads the reward the way the model authors' code does.

Builders write weights from the real transformers backbones plus seeded head tensors; they never go
through the custom modeling files, so a reference loading those files via ``trust_remote_code``
also checks that the key names match. References never import rewardkit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import tiny_models
import torch

CUSTOM_CODE = Path(__file__).resolve().parent / "custom_code"
IM_START = "<|im_start|>"
PRM_STEP_TAG = "<extra_0>"
TRL_STEP_SEPARATOR = "\n"
OPT_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3, as in facebook/opt-*

# ---- tokenizers ----------------------------------------------------------------------------------


def _bpe_tokenizer(specials: list[str], prepend: str | None, **fast_kwargs):
    """A byte-level BPE trained on the same dialogue text as tiny_models.decoder_tokenizer;
    ``prepend``: the special token the post-processor puts in front of every sequence."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(tiny_models.hh_texts(), trainer)
    if prepend is not None:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{prepend} $A", special_tokens=[(prepend, tok.token_to_id(prepend))]
        )
    return PreTrainedTokenizerFast(tokenizer_object=tok, **fast_kwargs)


def prm_tokenizer():
    """decoder_tokenizer() plus the Qwen PRM step tag ``<extra_0>`` as an extra special token."""
    tok = _bpe_tokenizer(
        [*tiny_models.DECODER_SPECIALS, PRM_STEP_TAG],
        "<s>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=[IM_START, "<|im_end|>", PRM_STEP_TAG],
        model_max_length=256,
    )
    tok.chat_template = tiny_models.CHAT_TEMPLATE
    return tok


def opt_tokenizer():
    """Behaves like facebook/opt's: <s>=0 <pad>=1 </s>=2 <unk>=3, '</s>' prepended as bos, no chat template."""
    tok = _bpe_tokenizer(
        OPT_SPECIALS,
        "</s>",
        bos_token="</s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=2048,
    )
    assert [tok.convert_tokens_to_ids(t) for t in OPT_SPECIALS] == [0, 1, 2, 3]
    return tok


# ---- helpers -------------------------------------------------------------------------------------


def _randn(g: torch.Generator, *shape: int, scale: float = 0.5) -> torch.Tensor:
    return torch.randn(*shape, generator=g) * scale


def _prefixed(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def _write(
    out: Path,
    state: dict[str, torch.Tensor],
    config: dict,
    tokenizer,
    *,
    code: str | None = None,
    bin_format: bool = False,
) -> Path:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    if bin_format:
        torch.save(state, out / "pytorch_model.bin")
    else:
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {**config, "dtype": config.get("dtype") or "float32"}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    if code is not None:
        shutil.copyfile(CUSTOM_CODE / code, out / code)
    tokenizer.save_pretrained(out)
    return out


def _backbone(config_cls, model_cls, tok, seed: int, **extra):
    torch.manual_seed(seed)
    cfg = config_cls(
        **tiny_models._small(
            vocab_size=len(tok),
            max_position_embeddings=256,
            num_key_value_heads=2,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            **extra,
        )
    )
    return cfg, model_cls(cfg).eval()


def _llama(tok, seed: int, **extra):
    from transformers import LlamaConfig, LlamaModel

    return _backbone(LlamaConfig, LlamaModel, tok, seed, **extra)


def _qwen2(tok, seed: int, **extra):
    from transformers import Qwen2Config, Qwen2Model

    return _backbone(Qwen2Config, Qwen2Model, tok, seed, **extra)


def _mlp_head(g: torch.Generator, prefix: str, hidden: int, out: int) -> dict[str, torch.Tensor]:
    """nn.Sequential(Linear(h, h), ReLU(), Linear(h, out)) as state-dict entries."""
    return {
        f"{prefix}.0.weight": _randn(g, hidden, hidden),
        f"{prefix}.0.bias": _randn(g, hidden, scale=0.1),
        f"{prefix}.2.weight": _randn(g, out, hidden),
        f"{prefix}.2.bias": _randn(g, out, scale=0.1),
    }


# ---- builders ------------------------------------------------------------------------------------


def build_custom_value_head(out: Path, *, seed: int = 0) -> Path:
    """UltraRM-style remote code: model.safetensors with ``model.*`` (LlamaModel) and
    ``regression_head.weight`` [1, H]; modeling_llama_rm.py; auto_map AutoModelForSequenceClassification."""
    tok = tiny_models.decoder_tokenizer()
    cfg, backbone = _llama(tok, seed, num_labels=1)
    g = torch.Generator().manual_seed(seed)
    state = _prefixed("model.", backbone)
    state["regression_head.weight"] = _randn(g, 1, cfg.hidden_size)
    config = cfg.to_dict()
    config["architectures"] = ["LlamaRewardModel"]
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_llama_rm.LlamaRewardModel"}
    return _write(out, state, config, tok, code="modeling_llama_rm.py")


ARMO_OBJECTIVES = ["helpfulness", "correctness", "coherence", "verbosity"]


def build_armo_gating(out: Path, *, seed: int = 0) -> Path:
    """ArmoRM-style remote code: ``model.*``, ``regression_layer.weight`` [K, H],
    ``reward_transform_matrix`` [K, K] (non-identity), ``gating.logit_scale`` [1] and
    ``gating.layers.{0..n}.weight/bias``; config keys num_objectives, gating_hidden_dim,
    gating_n_hidden, gating_temperature, gating_token_id (= id of <|im_start|>), id2label = objectives."""
    tok = tiny_models.decoder_tokenizer()
    k, gate_hidden, n_hidden = len(ARMO_OBJECTIVES), 16, 2
    id2label = dict(enumerate(ARMO_OBJECTIVES))
    cfg, backbone = _llama(tok, seed, id2label=id2label, label2id={v: i for i, v in id2label.items()})
    h = cfg.hidden_size
    g = torch.Generator().manual_seed(seed)
    state = _prefixed("model.", backbone)
    state["regression_layer.weight"] = _randn(g, k, h)
    state["reward_transform_matrix"] = torch.eye(k) + _randn(g, k, k, scale=0.3)
    state["gating.logit_scale"] = torch.tensor([1.25])
    dims = [h] + [gate_hidden] * n_hidden + [k]
    for i in range(n_hidden + 1):
        state[f"gating.layers.{i}.weight"] = _randn(g, dims[i + 1], dims[i])
        state[f"gating.layers.{i}.bias"] = _randn(g, dims[i + 1], scale=0.1)
    config = cfg.to_dict()
    config.update(
        architectures=["LlamaForRewardModelWithGating"],
        auto_map={"AutoModelForSequenceClassification": "modeling_armo.LlamaForRewardModelWithGating"},
        num_objectives=k,
        gating_hidden_dim=gate_hidden,
        gating_n_hidden=n_hidden,
        gating_temperature=2.0,
        gating_token_id=tok.convert_tokens_to_ids(IM_START),
    )
    return _write(out, state, config, tok, code="modeling_armo.py")


def build_qwen2_token_rm(out: Path, *, seed: int = 0) -> Path:
    """Qwen2.5-Math-RM-style remote code: ``model.*`` (Qwen2Model), ``score.0.*`` (Linear h->h) and
    ``score.2.*`` (Linear h->1); auto_map AutoModel; forward gives logits [B, T, 1]."""
    tok = tiny_models.decoder_tokenizer()
    cfg, backbone = _qwen2(tok, seed, num_labels=1)
    g = torch.Generator().manual_seed(seed)
    state = {**_prefixed("model.", backbone), **_mlp_head(g, "score", cfg.hidden_size, 1)}
    config = cfg.to_dict()
    config["architectures"] = ["Qwen2ForRewardModel"]
    config["auto_map"] = {"AutoModel": "modeling_qwen2_rm.Qwen2ForRewardModel"}
    return _write(out, state, config, tok, code="modeling_qwen2_rm.py")


def build_qwen2_prm(out: Path, *, seed: int = 0) -> Path:
    """Qwen2.5-Math-PRM-style remote code: ``model.*``, ``score.0.*`` and ``score.2.*`` (Linear h->2);
    auto_map AutoModel; forward gives logits [B, T, 2]; tokenizer has the ``<extra_0>`` step tag."""
    tok = prm_tokenizer()
    cfg, backbone = _qwen2(tok, seed, num_labels=2)
    g = torch.Generator().manual_seed(seed)
    state = {**_prefixed("model.", backbone), **_mlp_head(g, "score", cfg.hidden_size, 2)}
    config = cfg.to_dict()
    config["architectures"] = ["Qwen2ForProcessRewardModel"]
    config["auto_map"] = {"AutoModel": "modeling_qwen2_prm.Qwen2ForProcessRewardModel"}
    return _write(out, state, config, tok, code="modeling_qwen2_prm.py")


def build_token_classification_prm(out: Path, *, seed: int = 0) -> Path:
    """What TRL's PRMTrainer saves: a plain LlamaForTokenClassification (num_labels=2, ``model.*`` and
    ``score.weight``/``score.bias``) via save_pretrained, plus the tokenizer; no step_separator key."""
    from transformers import LlamaConfig, LlamaForTokenClassification

    torch.manual_seed(seed)
    tok = tiny_models.decoder_tokenizer()
    cfg = LlamaConfig(
        **tiny_models._small(
            vocab_size=len(tok),
            max_position_embeddings=256,
            num_key_value_heads=2,
            num_labels=2,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
        )
    )
    model = LlamaForTokenClassification(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    model.score.weight.data = _randn(g, *model.score.weight.shape)
    if model.score.bias is not None:
        model.score.bias.data = _randn(g, *model.score.bias.shape, scale=0.1)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_deepspeed_chat_opt(out: Path, *, seed: int = 0) -> Path:
    """DeepSpeed-Chat step-2 ``save_hf_format``: pytorch_model.bin (torch.save of the RewardModel state
    dict: ``rwtranrsformer.decoder.*`` and ``v_head.weight`` [1, word_embed_proj_dim]), config.json =
    the OPT config (architectures OPTForCausalLM) with end_token_id = pad_token_id = eos_token_id = 2,
    vocab rounded up to a multiple of 8 as create_hf_model does; OPT-like tokenizer files."""
    from transformers import OPTConfig, OPTModel

    tok = opt_tokenizer()
    torch.manual_seed(seed)
    cfg = OPTConfig(
        vocab_size=8 * -(-len(tok) // 8),
        hidden_size=32,
        ffn_dim=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        word_embed_proj_dim=32,
        max_position_embeddings=256,
        do_layer_norm_before=True,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        dropout=0.0,
    )
    backbone = OPTModel(cfg).eval()
    return _write_dschat(out, cfg, backbone, tok, seed, cfg.word_embed_proj_dim, "OPTForCausalLM", bin_format=True)


def _write_dschat(out: Path, cfg, backbone, tok, seed: int, width: int, architecture: str, **write) -> Path:
    """What DeepSpeed-Chat's save_hf_format writes for a backbone: ``rwtranrsformer.*`` and a
    ``v_head.weight`` [1, width]; config.json the base model's, with create_hf_model's
    end_token_id = eos and pad_token_id = eos."""
    g = torch.Generator().manual_seed(seed)
    state = _prefixed("rwtranrsformer.", backbone)
    state["v_head.weight"] = _randn(g, 1, width)
    config = cfg.to_dict()
    config["architectures"] = [architecture]
    config["end_token_id"] = tok.eos_token_id
    config["pad_token_id"] = config["eos_token_id"]
    return _write(out, state, config, tok, **write)


def build_deepspeed_chat_llama(out: Path, *, seed: int = 0) -> Path:
    """DeepSpeed-Chat step 2 on a Llama base: ``rwtranrsformer.*`` (LlamaModel) and ``v_head.weight``,
    config.json the Llama config (LlamaForCausalLM) with pad_token_id = eos_token_id and end_token_id."""
    tok = tiny_models.decoder_tokenizer()
    cfg, backbone = _llama(tok, seed)
    return _write_dschat(out, cfg, backbone, tok, seed, cfg.hidden_size, "LlamaForCausalLM")


def build_trlx_gptj(out: Path, *, seed: int = 0) -> Path:
    """trlx summarize_rlhf GPTRewardModel: pytorch_model.bin with ``transformer.*`` (GPTJModel) and
    ``v_head.weight`` [1, n_embd]; config.json the GPT-J config (architectures GPTJForCausalLM);
    tokenizer without a pad token (trlx sets pad = eos at runtime)."""
    from transformers import GPTJConfig, GPTJModel

    tok = tiny_models.decoder_tokenizer(pad=False)
    torch.manual_seed(seed)
    cfg = GPTJConfig(
        vocab_size=len(tok),
        n_embd=32,
        n_layer=2,
        n_head=4,
        rotary_dim=4,
        n_positions=256,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    backbone = GPTJModel(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    state = _prefixed("transformer.", backbone)
    state["v_head.weight"] = _randn(g, 1, cfg.n_embd)
    config = cfg.to_dict()
    config["architectures"] = ["GPTJForCausalLM"]
    return _write(out, state, config, tok, bin_format=True)


BUILDERS = {
    "custom_value_head": build_custom_value_head,
    "armo_gating": build_armo_gating,
    "qwen2_token_rm": build_qwen2_token_rm,
    "qwen2_prm": build_qwen2_prm,
    "token_classification_prm": build_token_classification_prm,
    "deepspeed_chat_opt": build_deepspeed_chat_opt,
    "trlx_gptj": build_trlx_gptj,
}

# ---- independent references: one unpadded sequence, the authors' own reading rule ---------------

_CACHE: dict[tuple[str, str], object] = {}


def cached(path: Path, kind: str, make):
    """``make()`` once per (checkpoint folder, kind): tokenizers and reference models the references reuse."""
    key = (str(path), kind)
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def _remote(path: Path, auto: str):
    import transformers

    cls = getattr(transformers, auto)
    return cached(path, auto, lambda: cls.from_pretrained(path, trust_remote_code=True, dtype=torch.float32).eval())


def _tokenizer(path: Path):
    from transformers import AutoTokenizer

    return cached(path, "tokenizer", lambda: AutoTokenizer.from_pretrained(path))


def _architecture(path: Path) -> str:
    return json.loads((Path(path) / "config.json").read_text())["architectures"][0]


def _bin_state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(Path(path) / "pytorch_model.bin", map_location="cpu", weights_only=True)


def reference_custom_score(path: Path, ids: list[int]) -> float:
    """UltraRM-style: the remote-code class through AutoModelForSequenceClassification, one unpadded
    sequence (no attention mask, so the last position), reward = logits[0, 0]."""
    model = _remote(path, "AutoModelForSequenceClassification")
    with torch.no_grad():
        return float(model(input_ids=torch.tensor([ids])).logits[0, 0])


def reference_armo(path: Path, ids: list[int]) -> tuple[float, list[float], list[float]]:
    """ArmoRM-style: the remote-code forward on one unpadded conversation (ids from
    ``tokenizer.apply_chat_template(conv, tokenize=True)``; must contain <|im_start|>).
    Returns (score, per-objective rewards [K], gating weights [K])."""
    model = _remote(path, "AutoModelForSequenceClassification")
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    return float(out.score[0]), out.rewards[0].tolist(), out.gating_output[0].tolist()


def reference_token_rm_score(path: Path, ids: list[int]) -> float:
    """Qwen2.5-Math-RM-style: per-token rewards from the remote-code AutoModel, the value at the last token."""
    model = _remote(path, "AutoModel")
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits  # [1, T, 1]
    return float(logits[0, -1, 0])


def separator_id(path: Path) -> int:
    """The step separator of a PRM checkpoint: ``<extra_0>`` for the Qwen PRM, else the single token
    that TRL's default step_separator "\\n" encodes to (without special tokens)."""
    return _separator_of(path)


def _separator_of(path: Path) -> int:
    tok = _tokenizer(path)
    if _architecture(path) == "Qwen2ForProcessRewardModel":
        return tok.convert_tokens_to_ids(PRM_STEP_TAG)
    encoded = tok.encode(TRL_STEP_SEPARATOR, add_special_tokens=False)
    assert len(encoded) == 1, encoded
    return encoded[0]


def reference_step_scores(path: Path, ids: list[int], separator_id: int | None = None) -> list[float]:
    """Process rewards as the Qwen model card / TRL compute them: softmax over the 2 logits per token,
    P(class 1) at every position whose id is the separator, in order."""
    if separator_id is None:
        separator_id = _separator_of(path)
    if _architecture(path) == "Qwen2ForProcessRewardModel":
        model = _remote(path, "AutoModel")
    else:
        from transformers import AutoModelForTokenClassification

        model = cached(
            path,
            "token_classification",
            lambda: AutoModelForTokenClassification.from_pretrained(path, dtype=torch.float32).eval(),
        )
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]  # [T, 2]
    probs = torch.softmax(logits.float(), dim=-1)[:, 1]
    return [float(probs[i]) for i, t in enumerate(ids) if t == separator_id]


def _dschat(path: Path):
    def make():
        from transformers import AutoConfig, AutoModel

        if (path / "pytorch_model.bin").exists():
            state = _bin_state(path)
        else:
            from safetensors.torch import load_file

            state = load_file(str(path / "model.safetensors"))
        backbone = AutoModel.from_config(AutoConfig.from_pretrained(path))
        prefix = "rwtranrsformer."
        backbone.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
        return backbone.float().eval(), state["v_head.weight"].float()

    return cached(path, "dschat", make)


def reference_dschat_score(
    path: Path, ids: list[int], *, num_padding_at_beginning: int = 1, max_seq_len: int = 256
) -> float:
    """DeepSpeed-Chat RewardModel's reading rule: right-pad to max_seq_len (truncating longer input)
    with PAD_ID = eos (tokenizer.pad_token = eos_token), mask 0 on padding; values = v_head(hidden);
    c_inds = positions of PAD_ID; c_ind = c_inds[num_padding_at_beginning] if there are more than
    that many, else max_seq_len; reward = values[c_ind - 1]. For OPT the leading '</s>' bos is the one
    "padding at beginning", so a '</s>' inside the text ends the sequence early."""
    tok = _tokenizer(path)
    pad_id = tok.eos_token_id
    ids = list(ids)[:max_seq_len]
    n = len(ids)
    input_ids = torch.tensor([ids + [pad_id] * (max_seq_len - n)])
    mask = torch.tensor([[1] * n + [0] * (max_seq_len - n)])
    backbone, v_head = _dschat(path)
    with torch.no_grad():
        values = (backbone(input_ids=input_ids, attention_mask=mask).last_hidden_state @ v_head.T)[0, :, 0]
    c_inds = (input_ids[0] == pad_id).nonzero()
    c_ind = int(c_inds[num_padding_at_beginning].item()) if len(c_inds) > num_padding_at_beginning else max_seq_len
    return float(values[c_ind - 1])


def _trlx(path: Path):
    def make():
        from transformers import GPTJConfig, GPTJModel

        state = _bin_state(path)
        backbone = GPTJModel(GPTJConfig.from_pretrained(path))
        prefix = "transformer."
        backbone.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
        return backbone.float().eval(), state["v_head.weight"].float()

    return cached(path, "trlx", make)


def reference_trlx_score(path: Path, ids: list[int]) -> float:
    """trlx GPTRewardModel (inference): PAD_ID = eos; c_inds = positions of PAD_ID; c_ind = c_inds[0]
    if any else len(ids); reward = values[c_ind - 1] with values = v_head(hidden).squeeze(-1)."""
    tok = _tokenizer(path)
    pad_id = tok.eos_token_id
    backbone, v_head = _trlx(path)
    input_ids = torch.tensor([list(ids)])
    with torch.no_grad():
        values = (backbone(input_ids=input_ids).last_hidden_state @ v_head.T)[0, :, 0]
    c_inds = (input_ids[0] == pad_id).nonzero()
    c_ind = int(c_inds[0].item()) if len(c_inds) > 0 else input_ids.shape[1]
    return float(values[c_ind - 1])
