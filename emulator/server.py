"""Start moto's server on a free loopback port, in this process, with the harness patches applied.

In-process (rather than `moto_server` as a subprocess) so the narrow patches in `emulator.patches`
apply to the backends that answer Terraform and boto3.
"""
from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

EMULATOR_REGION = "us-east-1"
EMULATOR_ACCOUNT = "123456789012"  # moto's default account; the example config's `local` environment uses it


class Emulator:
    def __init__(self, port: int = 0):
        self._requested_port = port
        self._server = None
        self.endpoint: str | None = None

    def start(self) -> Emulator:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        from emulator import patches

        patches.apply_all()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._requested_port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client_env(self) -> dict[str, str]:
        """Environment for boto3 (and the Lambdas run in-process) to talk to this emulator."""
        assert self.endpoint, "start() the emulator first"
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_SESSION_TOKEN": "test",
            "AWS_DEFAULT_REGION": EMULATOR_REGION,
            "AWS_REGION": EMULATOR_REGION,
            "MLP_EMULATOR_ENDPOINT": self.endpoint,
        }

    def reset(self) -> None:
        """Forget every resource (moto's reset API), e.g. between independent tests."""
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()


@contextmanager
def running_emulator(port: int = 0) -> Iterator[Emulator]:
    emulator = Emulator(port).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def run_forever(port: int = 0) -> None:
    """`python main.py emulator`: serve until Ctrl-C, printing how to point tools at it."""
    with running_emulator(port) as emulator:
        print(f"AWS emulator (moto) listening on {emulator.endpoint}")
        print("Point tools at it with:")
        for key, value in emulator.client_env().items():
            print(f"  export {key}={value}")
        print("Then e.g.: python main.py --stacks fraud-local && see README 'Deploy to the emulator'. Ctrl-C stops.")
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        os.environ.pop("MLP_EMULATOR_ENDPOINT", None)
