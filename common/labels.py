"""Ground-truth labels the team uploads (`ground-truth/<endpoint>/yyyy/mm/dd/hh/*.jsonl`), read one way
by the quality check and by curation.

A line is `{"inference_id": "...", "label": n}` (`event_id` instead of `inference_id` is accepted). A
label of the wrong type (not a finite number; not 0/1 for a binary problem), a line without an id, or a
line that is not a JSON object is counted `malformed`. The same id labelled twice with the same value
is counted `duplicate` and kept once; labelled with different values it is counted `conflicting` and
dropped altogether (neither value is trusted): nothing is silently replaced.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LabelSet:
    """Labels keyed by the id the team gave, with what was refused and why (counts)."""

    problem_type: str
    by_inference_id: dict[str, float] = field(default_factory=dict)
    by_event_id: dict[str, float] = field(default_factory=dict)
    # Where each label was filed (the hour prefix it came from): curation groups rows by it.
    filed_under: dict[tuple[str, str], str] = field(default_factory=dict)
    malformed: int = 0
    duplicate: int = 0
    conflicting: int = 0
    _conflicted: set[tuple[str, str]] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)

    def _note(self, reason: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(reason)

    def add_line(self, line: bytes | str, filed_under: str = "") -> None:
        """Add one ground-truth line, or count why it is refused."""
        try:
            item: Any = json.loads(line)
        except ValueError:
            self.malformed += 1
            self._note("a line is not JSON")
            return
        if not isinstance(item, dict):
            self.malformed += 1
            self._note("a line is not a JSON object")
            return
        label = item.get("label")
        if isinstance(label, bool) or not isinstance(label, (int, float)) or not math.isfinite(label):
            self.malformed += 1
            self._note(f"label {label!r} is not a finite number")
            return
        if self.problem_type == "binary" and label not in (0, 1):
            self.malformed += 1
            self._note(f"label {label!r} is not 0 or 1 (binary problem)")
            return
        inference_id, event_id = item.get("inference_id"), item.get("event_id")
        if isinstance(inference_id, str) and inference_id:
            self._put("inference_id", inference_id, float(label), filed_under)
        elif isinstance(event_id, str) and event_id:
            self._put("event_id", event_id, float(label), filed_under)
        else:
            self.malformed += 1
            self._note("a line has no inference_id or event_id string")

    def _put(self, kind: str, key: str, label: float, filed_under: str) -> None:
        table = self.by_inference_id if kind == "inference_id" else self.by_event_id
        if (kind, key) in self._conflicted:
            self.conflicting += 1
            return
        if key not in table:
            table[key] = label
            self.filed_under[(kind, key)] = filed_under
            return
        if table[key] == label:
            self.duplicate += 1
            return
        # Two different labels for one request: neither is trusted (both lines counted).
        del table[key]
        self.filed_under.pop((kind, key), None)
        self._conflicted.add((kind, key))
        self.conflicting += 2
        self._note(f"{kind} {key!r} labelled both {label:g} and another value")

    def take(self, inference_id: str | None, event_id: str | None) -> tuple[float, str] | None:
        """(label, the hour it was filed under) of a captured record, removed so each label joins once."""
        for kind, key, table in (("inference_id", inference_id, self.by_inference_id), ("event_id", event_id, self.by_event_id)):
            if key is not None and key in table:
                return table.pop(key), self.filed_under.pop((kind, key), "")
        return None

    def __len__(self) -> int:
        return len(self.by_inference_id) + len(self.by_event_id)

    def counts(self) -> dict[str, int]:
        return {"malformed": self.malformed, "duplicate": self.duplicate, "conflicting": self.conflicting}


def joined(records: Iterable[Any], labels: LabelSet) -> Iterator[tuple[Any, float, str]]:
    """(captured record, its label, the hour the label was filed under) for each record a label names,
    each label used once; stops reading once every label has found its record."""
    for record in records:
        if not len(labels):
            return
        taken = labels.take(record.inference_id, record.event_id)
        if taken is not None:
            yield record, taken[0], taken[1]
