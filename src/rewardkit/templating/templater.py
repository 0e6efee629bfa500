"""Messages -> text -> token ids, with the truncation policy.

Knows the tokenizer and its chat template, and nothing about models, batching or HTTP. Every input
goes through here, so a text scored by the server, the Python API and the offline scorer is
tokenized the same way.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

from rewardkit.errors import InputTooLongError, InvalidInputError
from rewardkit.templating.conversations import FALLBACK_TEMPLATE, validate_conversation
from rewardkit.templating.cutting import EndReader, Ends, longest_token
from rewardkit.templating.rendering import Rendering
from rewardkit.types import Conversation, TokenizedItem

__all__ = ["Templater"]

RESPONSE_MARKER = "\u2063rewardkit-response\u2063"  # invisible separator chars: never in real text


class Templater:
    """Turns texts and conversations into TokenizedItems for one tokenizer.

    Truncation 'left' keeps the end (where the reward is read) and the leading special token
    (BOS/CLS); 'right' keeps the start and a trailing special token; 'error' raises. A text far
    longer than ``max_length`` tokens is never tokenized whole: only its ends are read (cutting.py),
    which gives the same tokens, so memory and time per text stay bounded by ``max_length``.
    A ``rendering`` (a model family's own input rule, rendering.py) replaces the chat template as
    served for conversations, and says how texts are tokenized.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        max_length: int,
        truncation: str = "left",
        append_eos: bool = False,
        track_prompt: bool = False,
        rendering: Rendering | None = None,
    ) -> None:
        if truncation not in ("left", "right", "error"):
            raise ValueError(f"truncation must be left, right or error, not {truncation!r}")
        if max_length < 2:
            raise ValueError(f"max_length must be at least 2, not {max_length}")
        self.max_length = max_length
        self.truncation = truncation
        self.append_eos = append_eos
        self.track_prompt = track_prompt  # find where the scored response starts (process reward models)
        self.rendering = rendering
        self._tokenizer = tokenizer
        self._local = threading.local()
        self._owner = threading.get_ident()
        self.has_chat_template = bool(getattr(tokenizer, "chat_template", None))
        self._special_ids = frozenset(getattr(tokenizer, "all_special_ids", ()) or ())
        self._bos_id = getattr(tokenizer, "bos_token_id", None)
        self.longest_token = longest_token(tokenizer)
        """The most characters one token stands for: ``max_length * longest_token`` characters always
        make more than ``max_length`` tokens."""
        self._ends = EndReader(max_length + 1, self.longest_token)  # +1: a doubled BOS may still be dropped
        probe = tokenizer("a", add_special_tokens=True)["input_ids"]
        content = tokenizer("a", add_special_tokens=False)["input_ids"]
        self._lead = probe.index(content[0]) if content and content[0] in probe else 0  # specials added before

    @property
    def template_name(self) -> str:
        if self.rendering is not None:
            return self.rendering.name
        return "model" if self.has_chat_template else "fallback (HH-RLHF '\\n\\nHuman: / \\n\\nAssistant:')"

    @property
    def tokenizer(self) -> Any:
        """This thread's copy of the tokenizer."""
        return self._tok()

    def _tok(self) -> Any:
        # HF fast tokenizers are not safe to share between threads: each thread gets its own copy.
        if threading.get_ident() == self._owner:
            return self._tokenizer
        tok = getattr(self._local, "tokenizer", None)
        if tok is None:
            tok = self._local.tokenizer = copy.deepcopy(self._tokenizer)
        return tok

    def render(self, conversation: Conversation) -> str:
        """The conversation as the model's chat template writes it (no generation prompt), or as
        the rendering writes it."""
        conversation = validate_conversation(conversation)
        tok = self._tok()
        if self.rendering is not None:
            return self.rendering.conversation(tok, conversation)
        template = None if self.has_chat_template else FALLBACK_TEMPLATE
        return tok.apply_chat_template(conversation, tokenize=False, chat_template=template)

    def response_offset(self, conversation: Conversation) -> int | None:
        """Where the last (scored) message's content starts in ``render(conversation)``, in characters."""
        probe = [*conversation[:-1], {"role": conversation[-1]["role"], "content": RESPONSE_MARKER}]
        at = self.render(probe).find(RESPONSE_MARKER)
        return at if at >= 0 else None

    def encode_texts(self, texts: Sequence[str], first: int = 0) -> list[TokenizedItem]:
        """Tokenize full texts (template already applied, as OpenRLHF sends them). ``first``: the
        index of ``texts[0]`` in the caller's request, so errors name the caller's item."""
        for i, text in enumerate(texts, first):
            if not isinstance(text, str):
                raise InvalidInputError(f"item {i}: expected a string, got {type(text).__name__}")
        if self.append_eos:
            texts = [self._legacy_eos(t) for t in texts]
        special = self.rendering.text_special_tokens if self.rendering is not None else True
        return self._encode(texts, first, special)

    def _encode(self, texts: Sequence[str], first: int, special: bool) -> list[TokenizedItem]:
        if not texts:
            return []
        tok = self._tok()
        cuts = [self._cut(tok, text, i, special) for i, text in enumerate(texts, first)]
        short = [t for t, cut in zip(texts, cuts) if cut is None]
        whole = iter(tok(short, add_special_tokens=special)["input_ids"] if short else ())
        finish = self.rendering.finish if self.rendering is not None else list
        return [
            self._finish(finish(next(whole)), i)
            if cut is None
            else self._finish(finish(cut.ids), i, cut.estimated_length)
            for i, cut in enumerate(cuts, first)
        ]

    def _cut(self, tok: Any, text: str, index: int, special: bool = True) -> Ends | None:
        """The ends of a text too long to tokenize whole, else None."""
        return self._ends.ends(lambda part: tok(part, add_special_tokens=special)["input_ids"], text, f"item {index}")

    def encode_conversations(self, conversations: Sequence[Conversation], first: int = 0) -> list[TokenizedItem]:
        texts = []
        for i, conversation in enumerate(conversations, first):
            try:
                texts.append(self.render(conversation))
            except InvalidInputError as exc:
                raise InvalidInputError(f"conversation {i}: {exc}") from None
        if self.rendering is not None:
            return self._encode(texts, first, self.rendering.special_tokens)
        if not self.track_prompt or self.append_eos:
            return self.encode_texts(texts, first)
        items = []
        tok = self._tok()
        for i, (conversation, text) in enumerate(zip(conversations, texts), first):
            cut = self._cut(tok, text, i)
            ids = tok(text, add_special_tokens=True)["input_ids"] if cut is None else cut.ids
            offset = self.response_offset(conversation)
            span = None
            if offset is not None:
                end = offset + len(conversation[-1]["content"])
                span = (self._position(tok, text, offset, cut, len(ids)), self._position(tok, text, end, cut, len(ids)))
            items.append(self._finish(ids, i, None if cut is None else cut.estimated_length, span))
        return items

    def _position(self, tok: Any, text: str, at: int, cut: Ends | None, size: int) -> int:
        """Token position of character ``at`` in ``ids`` (the whole text's tokens, or a cut text's
        head + tail, ``size`` long). Counted from the start when near the start, from the end when
        near the end; a position in the part that was never tokenized is one truncation drops."""
        if cut is None:
            return self._count(tok, text[:at])
        if at <= cut.head_chars:
            position = self._count(tok, text[:at])
            if position <= len(cut.head):  # beyond it, the position falls in the part never tokenized
                return position
        if len(text) - at <= cut.tail_chars:
            position = size - (self._count(tok, text[at:]) - self._lead)
            if position >= len(cut.head):
                return position
        return 0 if self.truncation == "left" else size

    @staticmethod
    def _count(tok: Any, text: str) -> int:
        return len(tok(text, add_special_tokens=True)["input_ids"])

    def _legacy_eos(self, text: str) -> str:
        tok = self._tok()
        endings = tuple(t for t in (tok.pad_token, tok.eos_token) if t)
        while endings and text.endswith(endings):
            text = text[: -len(next(t for t in endings if text.endswith(t)))]
        return text + (tok.eos_token or "")

    def _finish(
        self, ids: list[int], index: int, cut_length: int | None = None, span: tuple[int, int] | None = None
    ) -> TokenizedItem:
        """``span``: the response's [start, end) in tokens, kept in step with BOS removal and truncation.
        ``cut_length``: the whole text's estimated length when ``ids`` are a cut text's ends."""
        # A chat template that writes BOS plus a tokenizer that adds one gives two; the model saw one.
        keep = self.rendering is not None and self.rendering.keep_doubled_bos
        if not keep and self._bos_id is not None and len(ids) >= 2 and ids[0] == ids[1] == self._bos_id:
            ids = ids[1:]
            span = None if span is None else (max(span[0] - 1, 0), max(span[1] - 1, 0))
        if not ids:
            raise InvalidInputError(f"item {index}: the text produced no tokens; send a non-empty text")
        original = len(ids)
        start, end = span if span is not None else (None, None)
        if original <= self.max_length:
            return TokenizedItem(input_ids=tuple(ids), original_length=original, prompt_length=start, response_end=end)
        if self.truncation == "error":
            size = f"{original} tokens" if cut_length is None else f"about {cut_length} tokens"
            raise InputTooLongError(
                f"item {index}: {size} is over the limit of {self.max_length}; shorten it, or start "
                "the server with --truncation left (keeps the end) or --truncation right (keeps the start)"
            )
        n = self.max_length
        if self.truncation == "left":
            keep_first = ids[0] in self._special_ids
            ids = ids[:1] + ids[-(n - 1) :] if keep_first else ids[-n:]
            if span is not None:  # positions after the kept head shift left by what was dropped
                floor = 1 if keep_first else 0
                start, end = (max(x - (original - n), floor) for x in span)
        else:
            keep_last = ids[-1] in self._special_ids
            ids = ids[: n - 1] + ids[-1:] if keep_last else ids[:n]
            if span is not None:
                start, end = (min(x, n - 1 if keep_last else n) for x in span)
        return TokenizedItem(
            input_ids=tuple(ids),
            original_length=max(original, cut_length or 0),
            truncated=True,
            prompt_length=start,
            response_end=end,
        )
