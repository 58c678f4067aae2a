"""The embedded AWS emulator: moto's server, with the harness patches, on a free loopback port.

The server runs in a child process (`python -m emulator.server`) that applies the narrow patches in
`emulator.patches` to its own moto backends. A child process keeps the emulator's state apart from
tests that use moto's in-process `mock_aws` (which resets backends) and keeps the patches out of them.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_REGION = "us-east-1"
EMULATOR_ACCOUNT = "123456789012"  # moto's default account; the example config's `local` environment uses it
READY = "mlp-emulator listening on "


class EmulatorError(RuntimeError):
    pass


class Emulator:
    def __init__(self, port: int = 0):
        self._requested_port = port
        self._process: subprocess.Popen[str] | None = None
        self.endpoint: str | None = None

    def start(self, timeout: float = 60) -> Emulator:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "emulator.server", "--port", str(self._requested_port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        timer = threading.Timer(timeout, self._process.kill)
        timer.start()
        try:
            line = self._process.stdout.readline()
        finally:
            timer.cancel()
        if not line.startswith(READY):
            self.stop()
            raise EmulatorError(f"the emulator did not start (said: {line.strip()!r}); run `python -m emulator.server` to see why")
        self.endpoint = line[len(READY):].strip()
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None

    def client_env(self) -> dict[str, str]:
        """Environment for boto3 (and the Lambdas run in-process) to talk to this emulator."""
        if not self.endpoint:
            raise EmulatorError("start() the emulator first")
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
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")).read()


@contextmanager
def running_emulator(port: int = 0) -> Iterator[Emulator]:
    emulator = Emulator(port).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def serve(port: int = 0, announce=print) -> None:
    """Serve in this process until SIGINT/SIGTERM (what the child process and `main.py emulator` run)."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from emulator import patches, patches_training

    patches.apply_all()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    os.environ[patches_training.SELF_ENDPOINT_VARIABLE] = f"http://{host}:{bound}"  # the training containers' AWS
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    announce(f"http://{host}:{bound}")
    stop.wait()
    server.stop()


def run_forever(port: int = 0) -> None:
    """`python main.py emulator`: serve until Ctrl-C, printing how to point tools at it."""

    def announce(endpoint: str) -> None:
        print(f"AWS emulator (moto, patched) listening on {endpoint}")
        print("Point tools at it:")
        env = Emulator()
        env.endpoint = endpoint
        for key, value in env.client_env().items():
            print(f"  export {key}={value}")
        print("Ctrl-C stops it (and forgets everything).", flush=True)

    serve(port, announce)


def _main() -> None:
    parser = argparse.ArgumentParser(description="Run the patched moto server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    serve(args.port, lambda endpoint: print(f"{READY}{endpoint}", flush=True))


if __name__ == "__main__":
    _main()
