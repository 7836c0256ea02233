"""The alphabet of a recognizer: text <-> integer ids, with the CTC blank at id 0."""

from __future__ import annotations

import collections
import unicodedata
from typing import Iterable, Sequence

BLANK_ID = 0


def normalize_text(text: str) -> str:
    """Unicode NFC, so that 'é' typed two ways is one symbol for the model."""
    return unicodedata.normalize("NFC", text)


class Charset:
    """Maps characters to ids 1..N; id 0 is reserved for the CTC blank.

    The charset is part of a trained model (saved in its config), so a model
    never needs a separate vocabulary file to turn its output back into text.

    Args:
        chars: the symbols, each a single character, without duplicates.

    Example:

    >>> cs = Charset("abc ")
    >>> cs.encode("cab")
    [3, 1, 2]
    >>> cs.decode([3, 1, 2])
    'cab'
    >>> len(cs)  # symbols + blank
    5
    """

    def __init__(self, chars: Iterable[str]):
        chars = [normalize_text(c) for c in chars]
        bad = [c for c in chars if len(c) != 1]
        if bad:
            raise ValueError(
                f"Received an invalid value for argument `chars`, expected single "
                f"characters, got {bad[:5]!r}"
            )
        dupes = [c for c, n in collections.Counter(chars).items() if n > 1]
        if dupes:
            raise ValueError(f"Charset characters must be unique, got duplicates {dupes!r}")
        self.chars: tuple[str, ...] = tuple(chars)
        self._ids = {c: i + 1 for i, c in enumerate(self.chars)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> "Charset":
        """The sorted set of characters that occur in `texts`."""
        seen = set()
        for text in texts:
            seen.update(normalize_text(text))
        seen.discard("\n")
        return cls(sorted(seen))

    @property
    def num_classes(self) -> int:
        """Width of the model's output layer: every symbol plus the blank."""
        return len(self.chars) + 1

    def __len__(self) -> int:
        return self.num_classes

    def __contains__(self, char: str) -> bool:
        return char in self._ids

    def __eq__(self, other) -> bool:
        return isinstance(other, Charset) and self.chars == other.chars

    def __repr__(self) -> str:
        return f"Charset({''.join(self.chars)!r})"

    def unknown(self, text: str) -> set[str]:
        """Characters of `text` the charset cannot encode."""
        return {c for c in normalize_text(text) if c not in self._ids}

    def encode(self, text: str, errors: str = "strict") -> list[int]:
        """Ids of `text`; `errors="ignore"` drops unknown characters instead of raising."""
        if errors not in ("strict", "ignore"):
            raise ValueError(f"`errors` must be 'strict' or 'ignore', got {errors!r}")
        ids = []
        for c in normalize_text(text):
            i = self._ids.get(c)
            if i is None:
                if errors == "strict":
                    raise ValueError(f"Character {c!r} in {text!r} is not in the charset")
                continue
            ids.append(i)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`; blanks and padding (ids <= 0) are skipped."""
        n = len(self.chars)
        return "".join(self.chars[i - 1] for i in ids if 0 < int(i) <= n)

    def union(self, texts: Iterable[str]) -> "Charset":
        """This charset followed by the characters of `texts` it lacks (sorted).

        Kept symbols come first in their old order, so a model resized to the union keeps
        their ids as well as their weights.

        Example:

        >>> Charset("ba").union(["cab", "d"]).chars
        ('b', 'a', 'c', 'd')
        """
        new = Charset.from_texts(texts).chars
        return Charset(self.chars + tuple(c for c in new if c not in self._ids))

    def id_map(self, other: "Charset") -> list[int]:
        """For each id of this charset, the id of the same symbol in `other`, or -1.

        The blank maps to the blank. What moves a trained output layer to a new alphabet:
        column `i` of the new layer is column `id_map(old)[i]` of the old one.

        Example:

        >>> Charset("abc").id_map(Charset("ca"))
        [0, 2, -1, 1]
        """
        return [BLANK_ID] + [other._ids.get(c, -1) for c in self.chars]

    def get_config(self) -> dict:
        return {"chars": "".join(self.chars)}

    @classmethod
    def from_config(cls, config: dict) -> "Charset":
        return cls(config["chars"])
