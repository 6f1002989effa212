"""What the server remembers of the completions it served lately, for the pages: each one's
language (for the acceptance events) and, when allowed, the prompt it built."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from fauxpilot.completion.explain import PromptExplanation
from fauxpilot.completion.languages import UNKNOWN

# Completions whose language is remembered for their events; an older one counts as unknown.
REMEMBERED_COMPLETIONS = 4096
# Per key: a person looks at the last suggestion or two, never at hundreds.
KEPT_PER_KEY = 8


class RecentCompletions:
    """The language of the last few thousand completions served, by completion id."""

    def __init__(self, size: int = REMEMBERED_COMPLETIONS) -> None:
        self._size = size
        self._languages: OrderedDict[str, str] = OrderedDict()

    def remember(self, completion_id: str, language: str) -> None:
        self._languages[completion_id] = language
        self._languages.move_to_end(completion_id)
        while len(self._languages) > self._size:
            self._languages.popitem(last=False)

    def language_of(self, completion_id: str) -> str:
        return self._languages.get(completion_id, UNKNOWN.id)


class PromptExplanations:
    """The explanations of each key's last few completions."""

    def __init__(self, kept_per_key: int = KEPT_PER_KEY) -> None:
        self._kept = kept_per_key
        self._by_key: dict[str, OrderedDict[str, dict[str, Any]]] = {}

    def keep(self, key: str, explanation: PromptExplanation) -> None:
        kept = self._by_key.setdefault(key, OrderedDict())
        kept[explanation.completion_id] = explanation.body
        while len(kept) > self._kept:
            kept.popitem(last=False)

    def find(self, key: str, completion_id: str) -> dict[str, Any] | None:
        return self._by_key.get(key, OrderedDict()).get(completion_id)
