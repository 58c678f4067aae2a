"""Test-wide set-up. The project root is the import root (pytest's rootdir, and `python -m pytest`
puts the working directory on the path): `common`, `contract`, `config` and the handlers
(`lambdas.<name>.handler`) import under the same names as in a Lambda zip or the CLI.

How the suite shares work between pytest-xdist workers (`scripts/test.sh`: `-n 2 --dist loadgroup`):
- A test with no `xdist_group` of its own is grouped with its module. A module-scoped fixture (a
  training run of both reference models, a policy scan of every stack, an emulator with a bucket set up)
  then runs once, on one worker, instead of once on each worker that draws one of the module's tests.
- The groups are handed out heaviest first (`HEAVIEST_FIRST`, then by number of tests, as xdist does):
  each worker starts on one of the long ones and the short ones fill in at the end, so both workers
  finish together instead of one starting a long group when the other is nearly done.
"""

from __future__ import annotations

import os

import pytest

# jsii prints a large banner on every run under Node 20 (end of life); the message is known.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

# The groups that hold real Terraform applies or PyTorch training, longest first (their wall time on
# 2 workers, measured with `pytest --durations`; benchmarks/test_suite.py times the whole suite).
HEAVIEST_FIRST = (
    "applied-fraud-local",  # tests/integration/conftest.py: the applied stack, the loop, the promotion
    "tests/integration/test_cdktf_workflow.py",  # cdktf deploy, diff, destroy on an emulator of its own
    "tests/models/test_reference_models.py",  # both reference models trained and served
    "tests/integration/test_runtime_patches.py",  # inference containers started per endpoint
    "tests/unit/test_policy_scan.py",  # checkov over every stack
)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into the test ids
def pytest_collection_modifyitems(items):
    # tests/integration/conftest.py's hook (tryfirst too, registered later: it runs first) has put the
    # applied stack's tests in their group.
    for item in items:
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


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
                rank = {group: index for index, group in enumerate(HEAVIEST_FIRST)}
                units = sorted(self.workqueue.items(), key=lambda unit: rank.get(unit[0], len(rank)))  # stable
                self.workqueue.clear()
                self.workqueue.update(units)
                self.ordered = True
            super()._assign_work_unit(node)

    return HeaviestFirst(config, log)
