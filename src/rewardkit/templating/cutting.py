"""A long text's first and last tokens without tokenizing the whole text.

Truncation keeps at most --max-length tokens, from the start or the end; tokenizing a 50 MB string
to keep 8,192 of its tokens costs gigabytes and a minute of CPU. The tokens near one end of a text
do not depend on characters far from that end, so each end is read from a window of the text: a
window is accepted when a second window one character wider agrees with it on every token kept (a
cut through a word, or through a run whose tokens depend on where it starts, shows up as a
disagreement), and windows double until they agree. The result is exactly the whole text's first
and last tokens. A text whose end tokens still depend on characters further away than any
--max-length tokens can span is refused (HTTP 413) rather than guessed. A window with too few tokens
(a tokenizer that drops or merges whitespace) just grows, up to tokenizing the text whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rewardkit.errors import InputTooLongError

__all__ = ["EndReader", "Ends", "longest_token"]

MARGIN = 16
"""Tokens a window must hold beyond those kept, so that the cut's edge is never among them."""
CHARS_PER_TOKEN_GUESS = 4
"""The first window's width per needed token; English text averages about four characters a token."""

Tokenize = Callable[[str], list[int]]


@dataclass(frozen=True)
class Ends:
    """The first ``len(head)`` and last ``len(tail)`` tokens of a text's full tokenization (special
    tokens included), read from windows of ``head_chars`` and ``tail_chars`` characters."""

    head: list[int]
    tail: list[int]
    head_chars: int
    tail_chars: int
    estimated_length: int
    """Tokens in the whole text, extrapolated from the tail window (only ever reported)."""

    @property
    def ids(self) -> list[int]:
        """Head then tail: the same first and last tokens as the full list, so truncating either gives
        what truncating the full list would."""
        return [*self.head, *self.tail]


def longest_token(tokenizer: object) -> int:
    """The most characters one token can stand for: the longest vocabulary entry (byte-level
    vocabularies spell one byte per character, so this bounds the characters too)."""
    try:
        return max(1, max(map(len, tokenizer.get_vocab())))  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError, NotImplementedError):
        return 64


class EndReader:
    """Reads the ``keep`` first and last tokens of texts too long to be worth tokenizing whole."""

    def __init__(self, keep: int, longest: int) -> None:
        self.keep = keep
        self.need = keep + MARGIN
        self.cap = self.need * longest
        """A window this wide holds at least ``need`` tokens whatever the text: past it, disagreement
        means the ends depend on far-away characters, and the text is refused."""
        self.first_width = min(self.need * CHARS_PER_TOKEN_GUESS, self.cap)

    def ends(self, tokenize: Tokenize, text: str, where: str = "the text") -> Ends | None:
        """The text's ends, or None when it is short enough that tokenizing it whole costs about as
        much as the windows would."""
        if len(text) <= 2 * self.first_width:
            return None
        head = self._read(tokenize, text, where, from_end=False)
        tail = self._read(tokenize, text, where, from_end=True) if head is not None else None
        if head is None or tail is None:
            return None
        (head_ids, head_chars, _), (tail_ids, tail_chars, density) = head, tail
        return Ends(
            head=head_ids,
            tail=tail_ids,
            head_chars=head_chars,
            tail_chars=tail_chars,
            estimated_length=max(round(len(text) * density), len(head_ids) + len(tail_ids)),
        )

    def _read(
        self, tokenize: Tokenize, text: str, where: str, *, from_end: bool
    ) -> tuple[list[int], int, float] | None:
        width = self.first_width
        while 2 * (width + 1) < len(text):
            a = tokenize(text[-width:] if from_end else text[:width])
            b = tokenize(text[-(width + 1) :] if from_end else text[: width + 1])
            enough = len(a) >= self.need and len(b) >= self.need
            if enough:
                kept_a, kept_b = (a[-self.keep :], b[-self.keep :]) if from_end else (a[: self.keep], b[: self.keep])
                if kept_a == kept_b:
                    return kept_a, width, len(a) / width
            # too few tokens (a tokenizer that drops or merges whitespace): a wider window, whatever the cap
            if enough and width >= self.cap:
                raise InputTooLongError(
                    f"{where}: {len(text)} characters, and the tokens at its {'end' if from_end else 'start'} "
                    f"still depend on characters more than {self.cap} away (a very long run without spaces?), "
                    f"so it cannot be cut exactly; send at most {self.cap} characters"
                )
            width = min(2 * width, self.cap) if enough else 2 * width
        return None  # the windows would cover most of the text: tokenizing it whole is as cheap
