"""One request at a time into moto: the emulator's cure for its flaky answers under concurrency.

Why: the server runs a thread per connection (werkzeug), and Terraform sends ten and more requests at
once, but moto's backends are plain dicts and lists with no locking. A role created while another
request iterates the roles made that request fail with "dictionary changed size during iteration",
which the client sees as a 500 with an HTML body ("invalid XML received", "error while deserializing
xml error response"): a failed apply, reproduced by tests/integration/test_emulator_server.py. So
moto's application is called under one lock: requests are still read and answered concurrently (the
socket work happens outside it: a request's body is read before it takes the lock, so a client slow to
send its body holds up no one else), but moto's state is only ever touched by one request at a time, as
in its in-process mode. moto is pure Python under the GIL, so little concurrency is lost. Work the
emulator does outside a request (a training job's container step ending the job: emulator/
patches_training.py) changes moto's state under the same lock (`exclusive`).

The one moto handler that waits for another request is SQS long polling (ReceiveMessage with
WaitTimeSeconds): it sleeps on the queue until a message arrives. It gives the lock up while it sleeps
(`release_while_waiting`), so the SendMessage it waits for can come in, as on AWS.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_held = threading.local()  # whether this thread is inside a request (holds the lock)


def read_body(environ: dict) -> None:
    """Read the request's body off the socket now (its Content-Length, or to the end of a chunked one) and
    give the app a copy: the waiting for the client happens here, not while holding the lock."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's stream ends with the body
        body = stream.read()
    else:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:  # werkzeug's own stream then reads nothing either
            length = 0
        chunks, remaining = [], length
        while remaining > 0:
            chunk = stream.read(remaining)
            if not chunk:  # the client closed early: the app sees what came (as it would have)
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        body = b"".join(chunks)
    environ["wsgi.input"] = io.BytesIO(body)


def serialized(app: Callable) -> Callable:
    """The WSGI app called under the lock, after its request body is read; its response body is collected
    before the lock is released."""

    def call(environ, start_response):
        read_body(environ)
        with _lock:
            _held.value = True
            try:
                body = app(environ, start_response)
                try:
                    return list(body)
                finally:
                    if hasattr(body, "close"):
                        body.close()
            finally:
                _held.value = False

    return call


@contextmanager
def exclusive() -> Iterator[None]:
    """Hold the request lock from a thread that is not serving a request (no request runs meanwhile)."""
    with _lock:
        yield


@contextmanager
def release_while_waiting() -> Iterator[None]:
    """Let other requests in while this one sleeps waiting for them (only inside a request)."""
    if not getattr(_held, "value", False):
        yield
        return
    _held.value = False
    _lock.release()
    try:
        yield
    finally:
        _lock.acquire()
        _held.value = True


def sqs_long_poll_releases_the_lock() -> None:
    """moto: Queue.wait_for_messages sleeps on the queue's condition during a long poll; under the
    request lock no SendMessage could arrive meanwhile. Patched: the lock is released while it sleeps."""
    from moto.sqs.models import Queue

    wait = Queue.wait_for_messages
    if getattr(wait, "_mlp_patch", False):
        return

    def wait_for_messages(self, timeout):
        with release_while_waiting():
            return wait(self, timeout)

    wait_for_messages._mlp_patch = True
    Queue.wait_for_messages = wait_for_messages
