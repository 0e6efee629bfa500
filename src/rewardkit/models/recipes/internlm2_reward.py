"""internlm2-reward: internlm/internlm2-1_8b-reward, -7b-reward and -20b-reward, custom code
(``auto_map`` AutoModel -> InternLM2ForRewardModel, a ``v_head`` over the InternLM2 decoder) whose
reward is read at a special reward token that its ``get_score`` appends.

What the card (github.com/InternLM/InternLM model_cards/internlm2_reward.md: ``model.get_score(
tokenizer, chat)``) runs, in the checkpoint's modeling_internlm2.py: the conversation goes through
``apply_chat_template(tokenize=False, add_generation_prompt=False)`` (the template writes BOS),
the text is encoded without special tokens, ``config.reward_token_id`` is appended, and the
model's own forward returns ``v_head`` at the last attended token, that reward token.

rewardkit runs the model's own class (so --trust-remote-code is needed, as for the card) on
right-padded batches with an attention mask, which is how its forward finds the last token. Texts
(/get_reward) are encoded the same way, the reward token appended unless already last. Detected
from config.json: the InternLM2ForRewardModel class (architectures or auto_map), or an internlm2
model type with ``reward_token_id``; without this recipe such a folder looks like a DeepSpeed-Chat
v-head, which it is not.
"""

from __future__ import annotations

from typing import Any

from rewardkit.errors import ModelLoadError
from rewardkit.models.base import LoadedModel
from rewardkit.models.checkpoint import Checkpoint
from rewardkit.models.format import Loading
from rewardkit.models.recipes._recipe import Recipe, chat_template_text, require_chat_template, reward_model
from rewardkit.templating import Rendering

__all__ = ["RECIPE", "InternLM2RewardModel"]

CLASS = "InternLM2ForRewardModel"


class InternLM2RewardModel(LoadedModel):
    """The checkpoint's own InternLM2ForRewardModel; one reward per row."""

    def __init__(self, *, rendering: Rendering, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rendering = rendering

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        output = self.module(input_ids=input_ids, attention_mask=attention_mask)
        logits = getattr(output, "logits", None)
        if logits is None:
            logits = output[0]
        return logits.float().reshape(input_ids.shape[0], 1)


def detect(ckpt: Checkpoint) -> str | None:
    named = [a for a in ckpt.architectures if CLASS in a] + [v for v in ckpt.auto_map.values() if CLASS in v]
    if named:
        return f"config.json names {named[0]}"
    if ckpt.config.get("model_type") == "internlm2" and "reward_token_id" in ckpt.config:
        return "config.json model_type 'internlm2' with a reward_token_id"
    return None


def reward_token(ckpt: Checkpoint, tokenizer: Any) -> int:
    token = ckpt.config.get("reward_token_id")
    if not isinstance(token, int) or isinstance(token, bool):
        raise ModelLoadError(
            f"{ckpt.path}: the internlm2-reward recipe appends config.json's reward_token_id and reads the reward "
            f"there, but config.json has {'no reward_token_id' if token is None else f'reward_token_id={token!r}'}"
        )
    vocab = min(len(tokenizer), int(ckpt.config.get("vocab_size") or len(tokenizer)))
    if not 0 <= token < vocab:
        raise ModelLoadError(
            f"{ckpt.path}: reward_token_id {token} is not a token of this checkpoint (vocabulary of {vocab})"
        )
    return token


def load(source: Loading) -> LoadedModel:
    ckpt, tokenizer = source.ckpt, source.tokenizer
    token = reward_token(ckpt, tokenizer)
    if "AutoModel" not in ckpt.auto_map:
        raise ModelLoadError(
            f"{ckpt.path}: the internlm2-reward recipe runs the checkpoint's own {CLASS} through config.json "
            f"auto_map 'AutoModel', which is missing (auto_map: {ckpt.auto_map or 'none'})"
        )
    require_chat_template(tokenizer, "internlm2-reward", "templates the conversation")
    import transformers

    module = transformers.AutoModel.from_pretrained(str(ckpt.path), dtype=source.dtype, trust_remote_code=True)
    module.to(source.device).eval()
    name = tokenizer.convert_ids_to_tokens(token)
    return reward_model(
        InternLM2RewardModel,
        RECIPE,
        source,
        module=module,
        head_text=f"the model's own v_head ({type(module).__name__}), read at the reward token {name!r} ({token})",
        pooling="the model's own: the last attended token, the appended reward token (right-padded, attention mask)",
        rendering=Rendering(
            name=f"internlm2-reward: the chat template, encoded without special tokens, reward token {token} appended",
            conversation=chat_template_text,
            special_tokens=False,
            text_special_tokens=False,
            suffix=(token,),
        ),
    )


RECIPE = Recipe(
    name="internlm2-reward",
    description="InternLM2-Reward: chat template, the reward token appended, the model's own v_head there",
    detect=detect,
    load=load,
    runs_custom_code=True,
    family="internlm/internlm2-*-reward (custom code, reward_token_id in config.json)",
    card=(
        "github.com/InternLM/InternLM model_cards/internlm2_reward.md; get_score in the checkpoint's "
        "modeling_internlm2.py"
    ),
    rule=(
        "chat template over the conversation (no generation prompt), encoded without special tokens, then "
        "config.json's reward_token_id appended; reward = the model's own v_head at that token"
    ),
)
