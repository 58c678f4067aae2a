"""Pure drift statistics: baseline shape and bins, the window histogram, PSI and JS distance."""

from __future__ import annotations

import math

import pytest

from common import drift
from contract.definitions import DefinitionsError


def definitions(amount: dict | None = None, category: dict | None = None, extra: list | None = None) -> dict:
    return {
        "schema": 1,
        "version": "0123456789abcdef",
        "team": "fraud",
        "feature_sets": [
            {
                "name": "transactions",
                "record_identifier": "transaction_id",
                "event_time_feature": "event_time",
                "features": [
                    {"name": "transaction_id", "type": "String"},
                    {"name": "event_time", "type": "Fractional"},
                    {"name": "amount", "type": "Fractional", **(amount if amount is not None else {"range": [0, 100]})},
                    {"name": "category", "type": "String", **(category if category is not None else {"categories": ["a", "b"]})},
                    *(extra or []),
                ],
            }
        ],
        "model_inputs": {"feature_set": "transactions", "features": ["amount", "category"], "label": "is_fraud"},
    }


def test_baseline_shape_declared_range_and_categories():
    rows = [
        {"amount": "-1", "category": "a"},  # underflow
        {"amount": "0", "category": "a"},  # first bin
        {"amount": "9.99", "category": "b"},  # first bin
        {"amount": "10", "category": "zzz"},  # second bin; category -> other
        {"amount": "100", "category": "b"},  # max edge closes the last bin
        {"amount": "100.5", "category": ""},  # overflow; category missing
        {"amount": "abc", "category": "a"},  # amount unparseable
        {"amount": "nan"},  # amount non-finite; category absent
        {"is_fraud": "1"},  # both absent
    ]
    baseline = drift.compute_baseline(definitions(), rows)
    assert set(baseline) == {"schema", "definitions_version", "sample_count", "features"}
    assert baseline["schema"] == 1 and baseline["definitions_version"] == "0123456789abcdef"
    assert baseline["sample_count"] == 9
    amount = baseline["features"]["amount"]
    assert set(amount) == {"kind", "edges", "proportions", "missing_rate"} and amount["kind"] == "numeric"
    assert amount["missing_rate"] == pytest.approx(3 / 9)  # unparseable, NaN, absent
    assert amount["edges"] == pytest.approx([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    counted = [1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1]  # under, 10 bins, over
    assert amount["proportions"] == pytest.approx([c / 6 for c in counted])
    category = baseline["features"]["category"]
    assert category == {
        "kind": "categorical",
        "categories": ["a", "b"],
        "proportions": pytest.approx([3 / 6, 2 / 6, 1 / 6]),
        "missing_rate": pytest.approx(3 / 9),
    }
    assert list(baseline["features"]) == ["amount", "category"]


def test_missing_values_are_counted():
    builder = drift.BaselineBuilder(definitions(amount={}, category={}))
    for row in [{"amount": "1", "category": "a"}, {"amount": "x"}, {"category": " "}]:
        builder.add(row)
    assert builder.missing == {"amount": 2, "category": 2}
    fixed = drift.BaselineBuilder(definitions())
    fixed.add({"amount": "", "category": None})
    assert fixed.missing == {"amount": 1, "category": 1}


def test_observed_range_and_categories():
    rows = [{"amount": str(v), "category": c} for v, c in [(5, "x"), (25, "y"), (15, "y"), (5, "y"), (25, "x"), (10, "w")]]
    baseline = drift.compute_baseline(definitions(amount={}, category={}), iter(rows))
    amount = baseline["features"]["amount"]
    assert amount["edges"] == pytest.approx([5 + 2 * i for i in range(11)])
    # 5,5 -> bin1 ; 10 -> bin 3 ([9,11)) ; 15 -> bin 6 ([15,17)) ; 25,25 -> last bin (closed)
    expected = [0, 2, 0, 1, 0, 0, 1, 0, 0, 0, 2, 0]
    assert amount["proportions"] == pytest.approx([c / 6 for c in expected])
    category = baseline["features"]["category"]
    assert category["categories"] == ["y", "x", "w"]  # by frequency, ties by value
    assert category["proportions"] == pytest.approx([3 / 6, 2 / 6, 1 / 6, 0])


def test_constant_and_empty_numeric_features_get_valid_edges():
    constant = drift.compute_baseline(definitions(amount={}), [{"amount": "7", "category": "a"}] * 3)
    edges = constant["features"]["amount"]["edges"]
    assert edges[0] == 6.5 and edges[-1] == 7.5 and len(edges) == 11
    empty = drift.compute_baseline(definitions(amount={}), [])
    assert empty["sample_count"] == 0
    assert sum(empty["features"]["amount"]["proportions"]) == 0


def test_observed_categories_capped_at_50():
    rows = [{"amount": "1", "category": f"c{i:03d}"} for i in range(80) for _ in range(100 - i)]
    category = drift.compute_baseline(definitions(category={}), rows)["features"]["category"]
    assert category["categories"] == [f"c{i:03d}" for i in range(50)]
    total = sum(100 - i for i in range(80))
    assert category["proportions"][-1] == pytest.approx(sum(100 - i for i in range(50, 80)) / total)


def test_definitions_errors():
    broken = definitions()
    broken["model_inputs"]["features"].append("nope")
    with pytest.raises(DefinitionsError):
        drift.compute_baseline(broken, [])
    with pytest.raises(DefinitionsError):
        drift.compute_baseline({"feature_sets": []}, [])
    with pytest.raises(DefinitionsError):
        drift.compute_baseline(definitions(category={"type": "Blob"}), [])


def test_window_histogram_uses_baseline_bins_and_json_values():
    baseline = drift.compute_baseline(definitions(), [{"amount": "50", "category": "a"}, {"amount": "5", "category": "b"}])
    window = drift.WindowHistogram(baseline)
    for record in [{"amount": 55, "category": "a"}, {"amount": "5.5", "category": "b"}, {"amount": True}, {}]:
        window.add(record)
    assert window.sample_count == 4
    assert window.features["amount"].counts[6] == 1 and window.features["amount"].counts[1] == 1
    assert window.features["amount"].missing == 2 and window.features["category"].missing == 2
    scores = window.scores()
    assert scores["amount"]["psi"] == pytest.approx(0.0) and scores["amount"]["js_distance"] == pytest.approx(0.0)


def test_window_feature_without_values_has_no_score():
    baseline = drift.compute_baseline(definitions(), [{"amount": "50", "category": "a"}])
    window = drift.WindowHistogram(baseline)
    window.add({"amount": "51"})
    assert set(window.scores()) == {"amount"}


def test_psi_matches_hand_computation_with_floor():
    expected = [0.5, 0.5, 0.0]
    actual = [0.25, 0.5, 0.25]
    by_hand = (0.25 - 0.5) * math.log(0.25 / 0.5) + 0 + (0.25 - 1e-4) * math.log(0.25 / 1e-4)
    assert drift.psi(expected, actual) == pytest.approx(by_hand)
    assert drift.psi([0.2, 0.8], [0.2, 0.8]) == 0
    with pytest.raises(ValueError):
        drift.psi([1.0], [0.5, 0.5])


def test_js_distance_bounds_and_symmetry():
    assert drift.js_distance([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0)
    assert drift.js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    p, q = [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]
    assert drift.js_distance(p, q) == pytest.approx(drift.js_distance(q, p))
    m = [(a + b) / 2 for a, b in zip(p, q)]
    kl = lambda x, y: sum(a * math.log2(a / b) for a, b in zip(x, y) if a > 0)
    assert drift.js_distance(p, q) == pytest.approx(math.sqrt(0.5 * kl(p, m) + 0.5 * kl(q, m)))
    with pytest.raises(ValueError):
        drift.js_distance([0, 0], [0.5, 0.5])
