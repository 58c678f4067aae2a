"""Named snapshots of the emulator's whole state, restored in about a second.

Why: a test that changes an applied stack (trains, deploys, deletes) would otherwise need a fresh
`terraform apply`, a minute or more, most of it the provider's own client-side waits. Restoring the
snapshot taken right after the apply gives the next test the stack exactly as applied.

All of moto's state lives in its `BackendDict`s (one per service in use; the harness patches keep
theirs as attributes of the backends, so it comes along), and in what a few of them keep beside their
backends: S3's bucket namespace (`bucket_accounts`, which bucket names exist and in which account),
Organizations' master accounts. A snapshot is one deep copy of all of it, taken in one `deepcopy` call so
references between them stay consistent. Works in any process where moto's backends live: the emulator
process (`emulator.server` serves it under /mlp-api/snapshots/) and the handler tests' in-process moto
(tests/lambdas/moto_state.py).
"""

from __future__ import annotations

import copy
import copyreg
import functools
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_snapshots: dict[str, list[tuple[Any, dict]]] = {}


def _copyable_types() -> None:
    """Locks cannot be deep-copied, and a copied Condition (an SQS queue's) would keep the original's
    lock methods: a copy gets a new, unheld lock or condition instead. A defaultdict subclass whose
    constructor takes other arguments (SSM's ParameterDict) is rebuilt without calling it."""
    for kind, factory in (
        (type(threading.Lock()), threading.Lock),
        (type(threading.RLock()), threading.RLock),
        (threading.Condition, threading.Condition),
    ):
        copyreg.pickle(kind, lambda _lock, factory=factory: (factory, ()))
    pending = list(defaultdict.__subclasses__())
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        copyreg.pickle(kind, _reduce_defaultdict)


def _reduce_defaultdict(mapping: defaultdict) -> tuple:
    return _new_defaultdict, (type(mapping), mapping.default_factory), vars(mapping) or None, None, iter(mapping.items())


def _new_defaultdict(kind: type, factory: Any) -> defaultdict:
    mapping = kind.__new__(kind)
    defaultdict.__init__(mapping, factory)
    return mapping


def take(name: str) -> int:
    """Save the state of every service in use under `name`; returns how many services it holds."""
    from moto.core.base_backend import BackendDict, backend_lock

    _copyable_types()
    with backend_lock, _untracked():
        services = list(BackendDict._instances)
        contents = copy.deepcopy([(dict(service), _own_attributes(service)) for service in services])
    _snapshots[name] = list(zip(services, contents))
    return len(services)


def restore(name: str) -> int:
    """Put back the state saved under `name` (services first used since then are emptied, the way moto
    resets them: S3 forgets their bucket names)."""
    from moto.core.base_backend import BackendDict, backend_lock

    if name not in _snapshots:
        raise KeyError(f"no emulator snapshot named {name!r} (taken: {sorted(_snapshots)})")
    saved = _snapshots[name]
    contents = copy.deepcopy([state for _, state in saved])
    with backend_lock:
        kept = {id(service) for service, _ in saved}
        for service in BackendDict._instances:
            if id(service) not in kept:
                for backends in service.values():  # per account: each region's backend reset
                    backends.reset()
                dict.clear(service)
        for (service, _), (backends, attributes) in zip(saved, contents):
            dict.clear(service)
            dict.update(service, backends)
            vars(service).update(attributes)
        BackendDict._instances[:] = [service for service, _ in saved]
    return len(saved)


def drop(prefix: str) -> int:
    """Forget the snapshots whose names start with `prefix`; returns how many. Their S3 objects close their
    buffers as they go (moto's FakeKey.__del__), which fails once the interpreter is shutting down: a process
    that keeps snapshots drops them before it exits."""
    names = [name for name in _snapshots if name.startswith(prefix)]
    for name in names:
        del _snapshots[name]
    return len(names)


def _own_attributes(service: Any) -> dict[str, Any]:
    """What a service's `BackendDict` subclass keeps beside its backends (S3's `bucket_accounts`)."""
    common = _common_attributes()
    return {name: value for name, value in vars(service).items() if name not in common}


@contextmanager
def _untracked() -> Iterator[None]:
    """moto tracks every model object it makes (in `BaseModel.__new__`, so a deep copy's too) for its reset,
    which closes every tracked S3 object's buffer. A snapshot's copies are not live state: a reset must not
    empty them, so the copies made in the block are dropped from the tracking."""
    from moto.core.model_instances import model_data

    models = [model for service in model_data.values() for model in service.values()]
    counts = [len(model.instances_tracked) for model in models]
    try:
        yield
    finally:
        for model, count in zip(models, counts):
            del model.instances_tracked[count:]


@functools.cache
def _common_attributes() -> frozenset[str]:
    from moto.core.base_backend import BackendDict

    return frozenset(vars(BackendDict(object, "snapshot-probe")))  # holds no account until asked for one
