#!/usr/bin/env python3
"""The critical path of one `terraform apply`, read from its DEBUG log (TF_LOG=DEBUG, TF_LOG_PATH).

    .venv/bin/python benchmarks/apply_trace.py LOG [--top 8]

Terraform's DEBUG log has what is needed: when the run started, when the apply walk began, the
dependency graph ("ReferenceTransformer: X references: [...]"), when each resource's apply started
("Starting apply for X") and, from the provider's own lines (tagged with the request id of its
ApplyResourceChange call), when the provider last worked on it. The path printed is the chain of
resources, from the one that finished last back through, at each step, the dependency that finished
last (the one it waited for), with each one's start, end and duration in seconds from the start of the
apply walk: what bounds the apply. `emulator_deploy.py --trace-dir` writes such logs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) ")
STARTING = re.compile(r"Starting apply for (\S+)")
REFERENCES = re.compile(r'ReferenceTransformer: "([^"]+)" references: \[(.*)\]')
PROVIDER_CALL = re.compile(r"tf_rpc=ApplyResourceChange")
REQUEST_ID = re.compile(r"tf_req_id=(\S+)")
RESOURCE_TYPE = re.compile(r"tf_resource_type=(\S+)")


def _time(stamp: str) -> float:
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC).timestamp()


def _address(text: str) -> str:
    return text.removesuffix(" (expand)").split("[")[0]


@dataclass
class Resource:
    address: str
    start: float
    end: float
    depends_on: set[str] = field(default_factory=set)

    @property
    def kind(self) -> str:
        return self.address.split(".")[0]


@dataclass
class Trace:
    run_start: float  # the CLI's first line
    walk_start: float  # "Starting graph walk: walkApply"
    resources: dict[str, Resource]

    @property
    def end(self) -> float:
        return max(r.end for r in self.resources.values())

    def critical_path(self) -> list[Resource]:
        """From the resource that finished last back through the dependency each one waited for."""
        last = max(self.resources.values(), key=lambda r: r.end)
        path = [last]
        while True:
            waited = [self.resources[d] for d in path[-1].depends_on if d in self.resources and d != path[-1].address]
            if not waited:
                return path[::-1]
            path.append(max(waited, key=lambda r: r.end))


def parse(log: Path) -> Trace:
    starts: dict[str, float] = {}
    depends: dict[str, set[str]] = defaultdict(set)
    calls: dict[str, list] = {}  # request id -> [type, first, last]
    run_start = walk_start = None
    stamp = None
    for line in log.read_text(errors="replace").splitlines():
        found = STAMP.match(line)
        if found:
            stamp = _time(found.group(1))
            run_start = run_start or stamp
        if stamp is None:
            continue
        if "Starting graph walk: walkApply" in line:
            walk_start = stamp
        elif (match := STARTING.search(line)) and "provider.terraform-provider" not in line:
            starts.setdefault(_address(match.group(1)), stamp)
        elif match := REFERENCES.search(line):
            depends[_address(match.group(1))].update(_address(a) for a in match.group(2).split() if a)
        if PROVIDER_CALL.search(line) and (request := REQUEST_ID.search(line)) and (kind := RESOURCE_TYPE.search(line)):
            call = calls.setdefault(request.group(1), [kind.group(1), stamp, stamp])
            call[2] = stamp
    if walk_start is None or not starts:
        raise SystemExit(f"{log}: no apply walk in this log (is it a DEBUG log of `terraform apply`?)")
    # Each resource's provider call: the first unclaimed call of its type that began at or after its start.
    unclaimed = sorted(calls.values(), key=lambda call: call[1])
    resources = {}
    for address, start in sorted(starts.items(), key=lambda item: item[1]):
        kind = address.split(".")[0]
        match = next((c for c in unclaimed if c[0] == kind and c[1] >= start - 0.5), None)
        if match is not None:
            unclaimed.remove(match)
        resources[address] = Resource(address, start, match[2] if match else start, depends[address])
    return Trace(run_start, walk_start, resources)


def report(trace: Trace, top: int = 8) -> str:
    zero = trace.walk_start
    lines = [
        f"before the apply walk (provider start, validate, plan): {zero - trace.run_start:.1f} s; "
        f"apply walk to last resource: {trace.end - zero:.1f} s; {len(trace.resources)} resources",
        "critical path (seconds from the apply walk's start):",
    ]
    for resource in trace.critical_path():
        lines.append(
            f"  {resource.start - zero:6.1f} -> {resource.end - zero:6.1f}  ({resource.end - resource.start:5.1f} s)  {resource.address}"
        )
    lines.append(f"longest {top} by duration:")
    for resource in sorted(trace.resources.values(), key=lambda r: r.end - r.start, reverse=True)[:top]:
        lines.append(f"  {resource.end - resource.start:5.1f} s  {resource.address}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    print(report(parse(args.log), args.top))


if __name__ == "__main__":
    main()
