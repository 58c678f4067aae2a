"""Promotion paths in the config: both ends declared for the team, no self-loop, no duplicate, no cycle,
each refusal located at the edge it is about; valid paths across accounts are accepted."""

from __future__ import annotations

import pytest

from config.platform import ConfigError, parse_config
from tests.config_cases import example


def with_promotions(promotions, environments=None):
    data = example()
    fraud = data["teams"][0]
    fraud["promotions"] = promotions
    if environments is not None:
        fraud["environments"] = environments
    return data


def problems_of(data):
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def test_example_declares_dev_to_prod_across_accounts():
    config = parse_config(example())
    fraud = config.teams[0]
    assert fraud.promotion_from("dev", "prod") is not None
    assert config.environment("dev").account_id != config.environment("prod").account_id
    assert fraud.promotion_from("prod", "dev") is None


@pytest.mark.parametrize(
    "promotions, environments, expected",
    [
        ([{"source": "dev", "target": "qa"}], None, ["teams[0].promotions[0].target: 'qa' is not an environment of team fraud"]),
        (
            [{"source": "prod", "target": "dev"}],
            ["dev", "local"],
            ["teams[0].promotions[0].source: 'prod' is not an environment of team fraud"],
        ),
        (
            [{"source": "dev", "target": "dev"}],
            None,
            ["teams[0].promotions[0].target: an environment cannot promote to itself ('dev')"],
        ),
        (
            [{"source": "dev", "target": "prod"}, {"source": "dev", "target": "prod"}],
            None,
            ["teams[0].promotions[1]: duplicate promotion dev -> prod"],
        ),
        (
            [{"source": "dev", "target": "prod"}, {"source": "prod", "target": "dev"}],
            None,
            ["teams[0].promotions: the promotions form a cycle dev -> prod -> dev"],
        ),
        (
            [{"source": "local", "target": "dev"}, {"source": "dev", "target": "prod"}, {"source": "prod", "target": "local"}],
            None,
            ["teams[0].promotions: the promotions form a cycle dev -> prod -> local -> dev"],
        ),
    ],
)
def test_bad_paths_are_refused_at_their_edge(promotions, environments, expected):
    problems = problems_of(with_promotions(promotions, environments))
    for line in expected:
        assert any(p.startswith(line) for p in problems), problems
    assert len(problems) == len(expected), problems


@pytest.mark.parametrize(
    "edge",
    [
        {"source": "dev"},
        {"source": "dev", "target": "prod", "auto": True},
        {"source": "Dev", "target": "prod"},
        {"source": "${x}", "target": "prod"},
    ],
)
def test_malformed_edges_are_refused_with_their_path(edge):
    problems = problems_of(with_promotions([edge]))
    assert problems and all(p.startswith("teams[0].promotions[0]") for p in problems), problems


def test_a_chain_is_not_a_cycle():
    data = with_promotions(
        [{"source": "local", "target": "dev"}, {"source": "dev", "target": "prod"}, {"source": "local", "target": "prod"}]
    )
    assert [(p.source, p.target) for p in parse_config(data).teams[0].promotions] == [
        ("local", "dev"),
        ("dev", "prod"),
        ("local", "prod"),
    ]
