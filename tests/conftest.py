"""Test-wide set-up. The project root is the import root (pytest's rootdir, and `python -m pytest`
puts the working directory on the path): `common`, `contract`, `config` and the handlers
(`lambdas.<name>.handler`) import under the same names as in a Lambda zip or the CLI.

How the suite shares work between pytest-xdist workers (`scripts/test.sh`: `-n 2 --dist loadgroup`):
- A test with no `xdist_group` of its own that uses a module-scoped fixture is grouped with its module.
  The fixture (a training run of both reference models, a policy scan of every stack, an emulator with a
  bucket set up) then runs once, on one worker, instead of once on each worker that draws one of the
  module's tests (measured: the policy scan and the reference runs ran on both workers, 6 and 3 minutes
  each under load). Other tests stay spread one by one.
- The groups are handed out heaviest first (`HEAVIEST_FIRST`, then by number of tests, as xdist does):
  each worker starts on one of the long ones and the short ones fill in at the end, so both workers
  finish together instead of one starting a long group when the other is nearly done.
"""

from __future__ import annotations

import os

import pytest

# jsii prints a large banner on every run under Node 20 (end of life); the message is known.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

# The work units that hold real Terraform applies, PyTorch training or a policy scan, longest first
# (per-group time of `pytest -n 2 --dist loadgroup --junitxml`, this machine at load ~1, 2026-11-28: the applied
# stacks 227 s, cdktf 138, reference models 42, policy scan 32, config injection 20). The promotion tests
# joined the applied stack's group (tests/integration/conftest.py applies their target stack with it).
HEAVIEST_FIRST = (
    "applied-fraud-local",  # tests/integration/conftest.py: the applied stacks, the loop, promotion, the notebook run
    "tests/integration/test_cdktf_workflow.py",  # cdktf deploy, diff, destroy on an emulator of its own
    "tests/models/test_reference_models.py",  # both reference models trained and served, spot resume
    "tests/unit/test_policy_scan.py",  # checkov over every stack
    "tests/integration/test_config_injection.py",  # terraform init and two plans
)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into the test ids
def pytest_collection_modifyitems(items):
    # tests/integration/conftest.py's hook (tryfirst too, registered later: it runs first) has put the
    # applied stack's tests in their group.
    for item in items:
        if not any(item.iter_markers("xdist_group")) and _uses_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


def _uses_a_module_fixture(item) -> bool:
    """Whether a fixture the test uses lives as long as its module (or class): then the module's tests
    belong on one worker. Tests with function-scoped fixtures only stay spread one by one."""
    definitions = getattr(item, "_fixtureinfo", None)
    return definitions is not None and any(
        definition.scope in ("module", "class", "package")
        for chain in definitions.name2fixturedefs.values()
        for definition in chain
    )


def _rank(scope: str) -> int:
    """A work unit's place in `HEAVIEST_FIRST` (a group's name, or a lone test's module)."""
    for index, heavy in enumerate(HEAVIEST_FIRST):
        if scope == heavy or scope.startswith(f"{heavy}::"):
            return index
    return len(HEAVIEST_FIRST)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class HeaviestFirst(LoadGroupScheduling):
        """xdist's loadgroup scheduling, with the work queue put in `HEAVIEST_FIRST` order once it is built."""

        ordered = False

        def _assign_work_unit(self, node):
            if not self.ordered:
                units = sorted(self.workqueue.items(), key=lambda unit: _rank(unit[0]))  # stable: then by count
                self.workqueue.clear()
                self.workqueue.update(units)
                self.ordered = True
            super()._assign_work_unit(node)

    return HeaviestFirst(config, log)
