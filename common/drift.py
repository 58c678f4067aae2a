"""Drift statistics in pure Python: baseline histograms, live-window histograms, PSI and JS distance.

Both sides of a drift comparison must be binned identically, so the baseline fixes the bins once
(numeric edges, categorical labels) and the live window is counted into exactly those bins by the same
`FeatureBins` code. Nothing here touches AWS; the handlers feed rows in and publish what comes out.

Bins (the baseline JSON shape is in docs/CONTRACTS.md):

* numeric (`Integral`, `Fractional`): 10 equal-width bins over the declared `range`, or over the
  observed min..max of the training data when no range is declared, plus an underflow bucket (value
  below the first edge) and an overflow bucket (above the last edge). Bin i is [e_i, e_i+1), the last
  one is closed [e_9, e_10] so the maximum itself is not overflow.
* categorical (`String`): one bucket per declared category (or per observed value, the 50 most
  frequent, ties broken by value), plus an "other" bucket for everything else.

Missing values (absent, None, empty string) and unparseable or non-finite numbers are counted per
feature and skipped; they never raise and never land in a bucket. Proportions are over the values that
did land in a bucket. Missing values are a drift signal of their own: the baseline records each
feature's `missing_rate` in the training rows, and the live window's rate is compared with it
(`WindowHistogram.missing_rates`), so a feature gone 90% null (or NaN) is caught even though the
values that remain may still fit the training distribution.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contract.definitions import DefinitionsError, model_feature_specs

BASELINE_SCHEMA = 1
NUMERIC_BINS = 10
MAX_CATEGORIES = 50
PROPORTION_FLOOR = 1e-4
NUMERIC_TYPES = frozenset({"Integral", "Fractional"})
CATEGORICAL_TYPES = frozenset({"String"})


# --------------------------------------------------------------------------------------------------
# Value normalisation (shared by baseline and live window so both read values the same way)
# --------------------------------------------------------------------------------------------------


def as_number(value: Any) -> float | None:
    """A finite float, or None for missing/unparseable/non-finite values (CSV strings or JSON numbers).

    Exact type checks (not isinstance) keep this hot path cheap and leave out bools, which JSON
    decodes as a subclass of int but are not measurements."""
    kind = type(value)
    if kind is str:
        try:
            number = float(value)
        except ValueError:
            return None
    elif kind is float or kind is int:
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


def as_category(value: Any) -> str | None:
    """A category label, or None when missing. JSON scalars become the text a CSV row would carry."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return None  # objects/lists are not a category


# --------------------------------------------------------------------------------------------------
# Bins
# --------------------------------------------------------------------------------------------------


def equal_width_edges(low: float, high: float, bins: int = NUMERIC_BINS) -> list[float]:
    """`bins + 1` equal-width edges from low to high. A degenerate span (low == high, e.g. a constant
    feature) is widened by 0.5 on each side so the bins keep a positive width."""
    if high < low:
        low, high = high, low
    if high == low:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / bins
    edges = [low + i * width for i in range(bins)]
    edges.append(high)  # exact, no accumulated rounding on the last edge
    return edges


@dataclass
class FeatureBins:
    """The bins of one feature and a running count of values per bin.

    Numeric: `edges` set, counts = [underflow, bin_1..bin_k, overflow].
    Categorical: `categories` set, counts = [category_1..category_n, other].
    """

    name: str
    kind: str  # "numeric" | "categorical"
    edges: list[float] | None = None
    categories: list[str] | None = None
    counts: list[int] = field(default_factory=list)
    missing: int = 0
    _index: dict[str, int] = field(default_factory=dict, repr=False)
    _numeric: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self._numeric = self.kind == "numeric"
        if self.kind == "numeric":
            if not self.edges or len(self.edges) < 2:
                raise ValueError(f"feature {self.name}: numeric bins need at least two edges")
            size = len(self.edges) + 1  # (len-1) bins + underflow + overflow
        elif self.kind == "categorical":
            if self.categories is None:
                raise ValueError(f"feature {self.name}: categorical bins need categories")
            self._index = {c: i for i, c in enumerate(self.categories)}
            size = len(self.categories) + 1
        else:
            raise ValueError(f"feature {self.name}: unknown kind {self.kind!r}")
        if not self.counts:
            self.counts = [0] * size
        elif len(self.counts) != size:
            raise ValueError(f"feature {self.name}: {len(self.counts)} counts for {size} bins")

    @classmethod
    def from_baseline(cls, name: str, spec: Mapping[str, Any]) -> FeatureBins:
        """Empty bins shaped like one feature of a baseline document."""
        kind = spec.get("kind")
        if kind == "numeric":
            return cls(name, "numeric", edges=[float(e) for e in spec["edges"]])
        if kind == "categorical":
            return cls(name, "categorical", categories=[str(c) for c in spec["categories"]])
        raise ValueError(f"baseline feature {name}: unknown kind {kind!r}")

    def bin_of(self, value: Any) -> int | None:
        """Bucket index of a raw value, or None if it is missing/unparseable."""
        if self._numeric:
            number = as_number(value)
            if number is None:
                return None
            edges = self.edges
            assert edges is not None  # numeric bins always have edges
            if number < edges[0]:
                return 0
            if number >= edges[-1]:
                # the maximum edge closes the last bin; anything above it is overflow
                return len(edges) - 1 if number == edges[-1] else len(edges)
            return bisect.bisect_right(edges, number)  # 1..len(edges)-1 inside the range
        label = as_category(value)
        if label is None:
            return None
        assert self.categories is not None  # categorical bins always have categories
        return self._index.get(label, len(self.categories))

    def add(self, value: Any) -> None:
        index = self.bin_of(value)
        if index is None:
            self.missing += 1
        else:
            self.counts[index] += 1

    @property
    def total(self) -> int:
        """Values that landed in a bucket (missing ones excluded)."""
        return sum(self.counts)

    def proportions(self) -> list[float]:
        """Counts over their total; all zeros when nothing was counted."""
        total = self.total
        if total == 0:
            return [0.0] * len(self.counts)
        return [c / total for c in self.counts]

    def to_baseline(self, missing_rate: float) -> dict[str, Any]:
        """This feature in the baseline JSON shape."""
        if self.kind == "numeric":
            shape = {"kind": "numeric", "edges": list(self.edges or []), "proportions": self.proportions()}
        else:
            shape = {"kind": "categorical", "categories": list(self.categories or []), "proportions": self.proportions()}
        return {**shape, "missing_rate": missing_rate}


# --------------------------------------------------------------------------------------------------
# Baseline from training data
# --------------------------------------------------------------------------------------------------


class BaselineBuilder:
    """One-pass baseline over training rows.

    Features with a declared `range` (numeric) or declared `categories` are binned as rows stream by.
    Numeric features without a range need the observed min/max before any value can be binned; rather
    than requiring a re-iterable input and a second pass over the training data (a second S3 read in
    the register Lambda), their parsed values are kept in a compact `array('d')` (8 bytes a value) and
    binned at `result()`. Undeclared categorical features keep a Counter of distinct values, capped to
    the 50 most frequent at the end.
    """

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self.definitions_version = str(definitions.get("version", ""))
        self.sample_count = 0
        self._missing: dict[str, int] = {}
        self._fixed: dict[str, FeatureBins] = {}
        self._observed_numbers: dict[str, array] = {}
        self._observed_labels: dict[str, Counter] = {}
        self._order: list[str] = []
        for spec in model_feature_specs(definitions):
            name, ftype = spec["name"], spec.get("type")
            self._order.append(name)
            if ftype in NUMERIC_TYPES:
                declared = spec.get("range")
                if declared:
                    low, high = float(declared[0]), float(declared[1])
                    self._fixed[name] = FeatureBins(name, "numeric", edges=equal_width_edges(low, high))
                else:
                    self._observed_numbers[name] = array("d")
                    self._missing[name] = 0
            elif ftype in CATEGORICAL_TYPES:
                declared = spec.get("categories")
                if declared:
                    self._fixed[name] = FeatureBins(name, "categorical", categories=[str(c) for c in declared])
                else:
                    self._observed_labels[name] = Counter()
                    self._missing[name] = 0
            else:
                raise DefinitionsError(f"feature {name!r} has unsupported type {ftype!r}")

    @property
    def missing(self) -> dict[str, int]:
        """Missing or unparseable values per feature, so far."""
        return {name: self._fixed[name].missing if name in self._fixed else self._missing[name] for name in self._order}

    def add(self, row: Mapping[str, Any]) -> None:
        """Count one training row (column name -> string value)."""
        self.sample_count += 1
        for name, bins in self._fixed.items():
            bins.add(row.get(name))
        for name, values in self._observed_numbers.items():
            number = as_number(row.get(name))
            if number is None:
                self._missing[name] += 1
            else:
                values.append(number)
        for name, counter in self._observed_labels.items():
            label = as_category(row.get(name))
            if label is None:
                self._missing[name] += 1
            else:
                counter[label] += 1

    def result(self) -> dict[str, Any]:
        """The baseline document (CONTRACTS.md shape)."""
        features: dict[str, Any] = {}
        missing = self.missing
        for name in self._order:
            if name in self._fixed:
                bins = self._fixed[name]
            elif name in self._observed_numbers:
                values = self._observed_numbers[name]
                low, high = (min(values), max(values)) if values else (0.0, 1.0)
                bins = FeatureBins(name, "numeric", edges=equal_width_edges(low, high))
                for number in values:
                    bins.counts[_parsed_bin(bins, number)] += 1
            else:
                counter = self._observed_labels[name]
                top = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:MAX_CATEGORIES]
                bins = FeatureBins(name, "categorical", categories=[label for label, _ in top])
                for label, count in counter.items():
                    bins.counts[_parsed_bin(bins, label)] += count
            features[name] = bins.to_baseline(missing[name] / self.sample_count if self.sample_count else 1.0)
        return {
            "schema": BASELINE_SCHEMA,
            "definitions_version": self.definitions_version,
            "sample_count": self.sample_count,
            "features": features,
        }


def _parsed_bin(bins: FeatureBins, value: Any) -> int:
    """The bin of a value that was parsed already (so it has one)."""
    index = bins.bin_of(value)
    assert index is not None
    return index


def compute_baseline(definitions: dict, rows: Iterable[Mapping[str, str]]) -> dict:
    """Baseline JSON (CONTRACTS.md) of the model inputs over training rows (CSV DictReader rows).

    Reads `rows` once (see BaselineBuilder for how undeclared numeric ranges are handled). Missing or
    unparseable values are skipped; use BaselineBuilder directly to read their per-feature counts.
    """
    builder = BaselineBuilder(definitions)
    for row in rows:
        builder.add(row)
    return builder.result()


# --------------------------------------------------------------------------------------------------
# Live window
# --------------------------------------------------------------------------------------------------


class WindowHistogram:
    """Streaming counts of live records into a baseline's bins, one FeatureBins per baseline feature."""

    def __init__(self, baseline: Mapping[str, Any]) -> None:
        self.features: dict[str, FeatureBins] = {
            name: FeatureBins.from_baseline(name, spec) for name, spec in baseline["features"].items()
        }
        self.expected: dict[str, list[float]] = {
            name: [float(p) for p in spec["proportions"]] for name, spec in baseline["features"].items()
        }
        for name, bins in self.features.items():
            if len(self.expected[name]) != len(bins.counts):
                raise ValueError(f"baseline feature {name}: proportions do not match its bins")
        self.baseline_missing = {name: spec.get("missing_rate") for name, spec in baseline["features"].items()}
        self.sample_count = 0
        self._bins = list(self.features.items())

    def add(self, record: Mapping[str, Any]) -> None:
        """Count one record (feature name -> raw value); absent features count as missing."""
        self.sample_count += 1
        for name, bins in self._bins:
            bins.add(record.get(name))

    def missing_rates(self) -> dict[str, float]:
        """{feature: share of this window's records where it was absent, null, unparseable or NaN/inf}."""
        if not self.sample_count:
            return {}
        return {name: bins.missing / self.sample_count for name, bins in self.features.items()}

    def missing_rate_increases(self) -> dict[str, float]:
        """{feature: live missing rate minus the training rows' (at least 0)}; a baseline written before
        missing rates were recorded counts as 0% missing."""
        return {
            name: max(0.0, rate - float(self.baseline_missing.get(name) or 0.0)) for name, rate in self.missing_rates().items()
        }

    def scores(self) -> dict[str, dict[str, float]]:
        """{feature: {"psi", "js_distance"}} for every feature with at least one counted value on both
        sides; a feature without live values has no score (publishing a floored PSI would be noise)."""
        out: dict[str, dict[str, float]] = {}
        for name, bins in self.features.items():
            expected = self.expected[name]
            if bins.total == 0 or sum(expected) <= 0:
                continue
            actual = bins.proportions()
            out[name] = {"psi": psi(expected, actual), "js_distance": js_distance(expected, actual)}
        return out


# --------------------------------------------------------------------------------------------------
# Divergences
# --------------------------------------------------------------------------------------------------


def _check_same_bins(expected: Iterable[float], actual: Iterable[float]) -> tuple[list[float], list[float]]:
    expected, actual = list(expected), list(actual)
    if len(expected) != len(actual):
        raise ValueError(f"bins differ: {len(expected)} expected vs {len(actual)} actual")
    if not expected:
        raise ValueError("no bins")
    return expected, actual


def psi(expected: Iterable[float], actual: Iterable[float]) -> float:
    """Population Stability Index: sum over bins of (a - e) * ln(a / e).

    Each proportion is floored at 1e-4 (PROPORTION_FLOOR) before the sum, so an empty bin on either side
    contributes a large but finite term instead of infinity; the floored values are not renormalised.
    Rule of thumb: < 0.1 stable, 0.1-0.2 moderate shift, > 0.2 significant shift.
    """
    expected, actual = _check_same_bins(expected, actual)
    total = 0.0
    for e, a in zip(expected, actual):
        e = max(e, PROPORTION_FLOOR)
        a = max(a, PROPORTION_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def js_distance(expected: Iterable[float], actual: Iterable[float]) -> float:
    """Jensen-Shannon distance (square root of the JS divergence, log base 2, so it lies in [0, 1]).

    No floor is needed: 0 * log(0) terms are taken as 0 and the mixture is positive wherever either side
    is. Both inputs are normalised to sum to 1 first.
    """
    expected, actual = _check_same_bins(expected, actual)
    se, sa = sum(expected), sum(actual)
    if se <= 0 or sa <= 0:
        raise ValueError("JS distance needs two non-empty distributions")
    p = [x / se for x in expected]
    q = [x / sa for x in actual]
    divergence = 0.0
    for pi, qi in zip(p, q):
        m = (pi + qi) / 2
        if pi > 0:
            divergence += 0.5 * pi * math.log2(pi / m)
        if qi > 0:
            divergence += 0.5 * qi * math.log2(qi / m)
    return math.sqrt(max(divergence, 0.0))
