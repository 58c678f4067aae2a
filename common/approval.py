"""The champion/challenger gate at registration: which approval status a new model package gets.

The policy comes from the training recipe's `approval` block (written by the stack from
`monitoring.quality_metric` / `quality_threshold` and `retraining.approval.min_improvement`):

- below the quality threshold (above it for MAE/RMSE): Rejected;
- a first model (the run had no champion): the threshold alone decides: Approved where the environment
  approves automatically, else PendingManualApproval;
- with a champion: Approved only where the environment approves automatically and the challenger beats
  the champion, on the same holdout, by at least `min_improvement`; otherwise PendingManualApproval,
  the comparison in the package description;
- a run that had a champion whose score is missing from the evaluation: PendingManualApproval (never
  approved on what cannot be compared).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract.recipes import Approval

APPROVED, PENDING, REJECTED = "Approved", "PendingManualApproval", "Rejected"


@dataclass(frozen=True)
class Decision:
    status: str
    reason: str
    metric: str | None
    challenger: float | None
    champion: float | None

    def summary(self) -> str:
        def show(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.4f}"

        return f"{self.status}: challenger {self.metric} {show(self.challenger)} vs champion {show(self.champion)}; {self.reason}"


def _metric(scores: Any, metric: str) -> float | None:
    if not isinstance(scores, Mapping):
        return None
    value = (scores.get("metrics") or {}).get(metric) if isinstance(scores.get("metrics"), Mapping) else None
    if value is None and scores.get("metric") == metric:
        value = scores.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def decide(evaluation: Mapping[str, Any], policy: Approval, auto_approve: bool, had_champion: bool) -> Decision:
    """The approval status of a new package from its evaluation.json (see the module docstring)."""
    metric = policy.metric
    lower_is_better = policy.lower_is_better
    threshold = float(policy.threshold)
    margin = float(policy.min_improvement)
    challenger = _metric(evaluation, metric)
    champion = _metric(evaluation.get("champion"), metric)
    if challenger is None:
        return Decision(PENDING, f"the evaluation has no {metric}: a reviewer decides", metric, None, champion)
    meets = challenger <= threshold if lower_is_better else challenger >= threshold
    if not meets:
        word = "above" if lower_is_better else "below"
        return Decision(
            REJECTED, f"{metric} {challenger:.4f} is {word} the quality threshold {threshold:g}", metric, challenger, champion
        )
    manual = "this environment approves by hand"
    if not had_champion:
        reason = f"first model: meets the threshold {threshold:g}"
        return Decision(
            APPROVED if auto_approve else PENDING, reason if auto_approve else f"{reason}; {manual}", metric, challenger, None
        )
    if champion is None:
        problem = (evaluation.get("champion") or {}).get("error") if isinstance(evaluation.get("champion"), Mapping) else None
        return Decision(
            PENDING,
            f"the champion could not be scored on the holdout ({problem or 'no score'}): a reviewer decides",
            metric,
            challenger,
            None,
        )
    improvement = champion - challenger if lower_is_better else challenger - champion
    if improvement < margin:
        return Decision(
            PENDING,
            f"does not beat the champion by the margin {margin:g} (improvement {improvement:+.4f}): a reviewer decides",
            metric,
            challenger,
            champion,
        )
    reason = f"beats the champion by {improvement:+.4f} (margin {margin:g}) and meets the threshold {threshold:g}"
    return Decision(
        APPROVED if auto_approve else PENDING, reason if auto_approve else f"{reason}; {manual}", metric, challenger, champion
    )
