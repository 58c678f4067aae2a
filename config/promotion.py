"""Promotion paths: which environment of a team may hand an approved model to which (dev -> prod).

A team declares its paths as edges, `promotions: [{source: dev, target: prod}]`. A path is valid when
both ends are environments the team deploys to, the ends differ, no edge repeats, and the edges form no
cycle (prod must never feed back into dev, directly or through another environment). Accounts may
differ: that is the point (the stacks then create the cross-account grants of modules/promotion).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, StringConstraints

from config.base import Strict

if TYPE_CHECKING:
    from config.platform import TeamSpec

EnvName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{1,9}$")]


class PromotionSpec(Strict):
    source: EnvName = Field(description="Environment whose Approved model packages may be promoted (e.g. dev).")
    target: EnvName = Field(description="Environment that receives them, pending its own approval (e.g. prod).")


def promotion_problems(where: str, team: TeamSpec) -> list[str]:
    """One line per problem, each with the path of the edge (`teams[0].promotions[1].target`)."""
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    edges: dict[str, list[str]] = {}
    for i, edge in enumerate(team.promotions):
        path = f"{where}.promotions[{i}]"
        for end in ("source", "target"):
            name = getattr(edge, end)
            if name not in team.environments:
                problems.append(
                    f"{path}.{end}: {name!r} is not an environment of team {team.name} "
                    f"(teams[].environments: {team.environments})"
                )
        if edge.source == edge.target:
            problems.append(f"{path}.target: an environment cannot promote to itself ({edge.source!r})")
        elif (edge.source, edge.target) in seen:
            problems.append(f"{path}: duplicate promotion {edge.source} -> {edge.target}")
        seen.add((edge.source, edge.target))
        edges.setdefault(edge.source, []).append(edge.target)
    if not problems:
        cycle = _cycle(edges)
        if cycle:
            problems.append(
                f"{where}.promotions: the promotions form a cycle {' -> '.join(cycle)}; "
                "a model may only move one way (e.g. dev -> prod)"
            )
    return problems


def _cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A cycle of the directed graph as a closed path (`a -> b -> a`), else None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" once fully explored

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for following in edges.get(node, []):
            if state.get(following) == "open":
                return [*path[path.index(following) :], following]
            if following not in state:
                found = visit(following, [*path, following])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None
