"""In-process moto for the handler tests: a fixture's AWS state built once per worker, restored before each test.

Why restored, not rebuilt: `with mock_aws():` around each test cost ~0.7 s of set-up on a quiet machine and
~1.5 s under the suite's load, and little of it was the resources themselves. moto's start resets every
backend and gives boto3 a new default session, so each test re-read every service's botocore model to
create its clients (SageMaker's alone ~0.3 s), then re-created the same buckets, key, role, table and
images. Here a fixture's state is built on its first use in the worker process, saved (emulator/snapshots.py:
one deep copy of all of moto's backends) and put back, a fresh deep copy, before every test that asks for it:
a few milliseconds. The worker keeps one boto3 session for its in-process moto, so clients stay cheap.

What each test still gets as before: moto's patching on only while it runs (started and stopped around it;
tests of other directories on the same xdist worker talk to a real emulator over HTTP and must never see it),
moto's default account and region, and moto empty again when it ends. Nothing a test writes reaches the next
one: the state comes back from the snapshot, and services the snapshot does not hold are emptied
(tests/lambdas/test_moto_state.py writes in one test and checks in the next).
"""

from __future__ import annotations

import atexit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import boto3
import pytest
from moto import mock_aws
from moto.core.config import default_user_config

from emulator import snapshots

T = TypeVar("T")

_SNAPSHOT_PREFIX = "tests.lambdas:"  # the worker's snapshots, apart from any other in-process user
_built: dict[str, Any] = {}  # a state's name -> what its build returned (the ARNs and documents it made)
_session: list[boto3.Session] = []  # the worker's one session for in-process moto, made on first use
# Dropped while imports still work: collected at interpreter shutdown, each saved S3 object's __del__ fails
# and prints "Exception ignored ... Python is likely shutting down" (seen at the end of every full run).
atexit.register(snapshots.drop, _SNAPSHOT_PREFIX)


@contextmanager
def restored(monkeypatch: pytest.MonkeyPatch, name: str, build: Callable[[], T]) -> Iterator[T]:
    """moto in-process holding the state `build` makes (built once per process under `name`, then restored),
    for one test. Yields what `build` returned the first time: the same ARNs in every test of the worker.

    The caller sets the test's environment (credentials, region, no endpoint) with `monkeypatch` first:
    `build` runs under it on first use."""
    if not _session:
        _session.append(boto3.Session())
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", _session[0])  # boto3.client() and the handlers' clients
    # Unlike `with mock_aws():`, keeps boto3's session; the backends are reset only before a first build.
    mock = mock_aws(config={"core": {**default_user_config["core"], "reset_boto3_session": False}})
    snapshot = _SNAPSHOT_PREFIX + name
    mock.start(reset=name not in _built)
    try:
        if name not in _built:
            _built[name] = build()
            snapshots.take(snapshot)
        snapshots.restore(snapshot)
        yield _built[name]
    finally:
        mock.stop()  # moto's own stop: patching off, every backend reset
