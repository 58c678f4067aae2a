"""The embedded AWS emulator: moto's server, with the harness patches, on a free loopback port.

The server runs in a child process (`python -m emulator.server`) that applies the narrow patches in
`emulator.patches` to its own moto backends. A child process keeps the emulator's state apart from
tests that use moto's in-process `mock_aws` (which resets backends) and keeps the patches out of them.
Requests are served on a thread per connection and enter moto one at a time (emulator/serialized.py);
POST /mlp-api/snapshots/<name>[/restore] saves and restores the whole state (emulator/snapshots.py).

Every answer ends its connection (werkzeug sends `Connection: close`), and the connection is closed the
way HTTP/1.1 asks a server to (RFC 9112, section 9.6, "Tear-down"): write side first, then read until the
client closes, then close. werkzeug's own close (after a 10 ms read) let the kernel answer anything the
client sent later with a TCP reset, and a reset can destroy the answer before the client has read it:
what the AWS SDK for Go reports as a 200 it could not read ("connection reset", "use of closed network
connection"). tests/integration/test_emulator_server.py drives it.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_REGION = "us-east-1"
EMULATOR_ACCOUNT = "123456789012"  # moto's default account; the example config's `local` environment uses it
READY = "mlp-emulator listening on "
SNAPSHOTS_PATH = "/mlp-api/snapshots/"  # POST <name> saves, POST <name>/restore puts back
LINGER_SECONDS = 2.0  # how long a closed answer's connection waits for the client to close its side


class EmulatorError(RuntimeError):
    pass


class Emulator:
    def __init__(self, port: int = 0, log: Path | None = None, warm_models: bool = False):
        self._requested_port = port
        self._log = log  # the server's stderr (request errors), else discarded
        self._warm_models = warm_models  # start the model-code Python's warm interpreter with the server
        self._process: subprocess.Popen[str] | None = None
        self.endpoint: str | None = None

    def start(self, timeout: float = 60) -> Emulator:
        stderr = open(self._log, "ab") if self._log else subprocess.DEVNULL
        self._process = subprocess.Popen(
            [sys.executable, "-m", "emulator.server", "--port", str(self._requested_port)]
            + (["--warm-models"] if self._warm_models else []),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        if self._log:
            stderr.close()
        timer = threading.Timer(timeout, self._process.kill)
        timer.start()
        try:
            line = self._process.stdout.readline()
        finally:
            timer.cancel()
        if not line.startswith(READY):
            self.stop()
            raise EmulatorError(
                f"the emulator did not start (said: {line.strip()!r}); run `python -m emulator.server` to see why"
            )
        self.endpoint = line[len(READY) :].strip()
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

    def snapshot(self, name: str) -> None:
        """Save the whole emulator state under `name` (emulator/snapshots.py)."""
        self._snapshots(name)

    def restore(self, name: str) -> None:
        """Put back the state saved under `name`: e.g. an applied stack as it was right after the apply."""
        self._snapshots(f"{name}/restore")

    def _snapshots(self, path: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}{SNAPSHOTS_PATH}{urllib.parse.quote(path)}", method="POST")
        try:
            urllib.request.urlopen(request).read()
        except urllib.error.HTTPError as error:
            raise EmulatorError(error.read().decode() or str(error)) from None


@contextmanager
def running_emulator(port: int = 0, log: Path | None = None) -> Iterator[Emulator]:
    emulator = Emulator(port, log).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def with_snapshots(app):
    """The WSGI app, plus POST /mlp-api/snapshots/<name>[/restore] (everything else goes to moto)."""
    from emulator import snapshots

    def dispatch(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(SNAPSHOTS_PATH) or environ["REQUEST_METHOD"] != "POST":
            return app(environ, start_response)
        name = urllib.parse.unquote(path[len(SNAPSHOTS_PATH) :])
        try:
            if name.endswith("/restore"):
                services = snapshots.restore(name[: -len("/restore")])
            else:
                services = snapshots.take(name)
        except KeyError as error:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [error.args[0].encode()]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{services} services\n".encode()]

    return dispatch


def close_after_client(connection: socket.socket, linger: float = LINGER_SECONDS) -> tuple[int, OSError | None]:
    """Close an answered connection in stages (RFC 9112, 9.6): shut the write side (the client reads the
    whole answer, then end of stream), read and drop whatever the client still sends until it closes or
    `linger` seconds pass, then close. Returns how many bytes the client sent after its answer and the
    error that ended the wait, if any (a reset: the client closed without reading all it was sent)."""
    late, error = 0, None
    try:
        connection.shutdown(socket.SHUT_WR)
        connection.settimeout(linger)
        deadline = time.monotonic() + linger
        while time.monotonic() < deadline:
            data = connection.recv(65536)
            if not data:
                break
            late += len(data)
    except OSError as raised:  # reset, timeout or gone: nothing left to protect
        error = raised
    finally:
        connection.close()
    return late, error


def make_emulator_server(port: int, app):
    """werkzeug's threaded server (a thread per connection, as moto's ThreadedMotoServer) with moto's
    request handler, closing connections after the client (close_after_client), answers sent without
    Nagle's delay, and transport errors written to the log instead of dropped."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import ThreadedWSGIServer

    class RequestHandler(MotoRequestHandler):
        def setup(self) -> None:
            super().setup()
            # The status line and headers, then the body, go out as written: no wait for the client's ACK.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def address_string(self) -> str:
            # host:port on each request's log line: the port is how the SDK's errors name a connection.
            return f"{self.client_address[0]}:{self.client_address[1]}"

        def connection_dropped(self, error: BaseException, environ=None) -> None:
            # werkzeug ignores these; a client that did not get its answer is worth a line in the log.
            request = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}" if environ else "a request"
            self.log_error("client port %s: connection lost while answering %s: %r", self.client_address[1], request, error)

    class Server(ThreadedWSGIServer):
        def shutdown_request(self, request: socket.socket) -> None:
            try:
                port = request.getpeername()[1]  # the client's port, as the SDK's errors name it
            except OSError:
                port = "?"
            late, error = close_after_client(request)
            if late:
                self.log("info", f"client port {port} sent {late} bytes after its answer (read and dropped)\n")
            if error is not None and not isinstance(error, TimeoutError):
                self.log("info", f"client port {port} ended the connection after its answer with {error!r}\n")

    return Server("127.0.0.1", port, app, handler=RequestHandler)


def serve(port: int = 0, announce=print, warm_models: bool = False) -> None:
    """Serve in this process until SIGINT/SIGTERM (what the child process and `main.py emulator` run).
    `warm_models`: start the model-code Python's warm interpreter now (it imports PyTorch meanwhile),
    not at the first training job or endpoint (emulator/container.py)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from emulator import container, patches, patches_training
    from emulator.serialized import serialized, sqs_long_poll_releases_the_lock

    if warm_models:
        container.warm_interpreter()
    patches.apply_all()
    sqs_long_poll_releases_the_lock()
    # One request at a time into moto (its backends have no locks: emulator/serialized.py); snapshots too.
    app = serialized(with_snapshots(DomainDispatcherApplication(create_backend_app)))
    server = make_emulator_server(port, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, bound = server.server_address[:2]
    os.environ[patches_training.SELF_ENDPOINT_VARIABLE] = f"http://{host}:{bound}"  # the training containers' AWS
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    announce(f"http://{host}:{bound}")
    stop.wait()
    server.shutdown()
    thread.join()


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
    parser.add_argument("--warm-models", action="store_true", help="start the model-code Python's warm interpreter now")
    args = parser.parse_args()
    serve(args.port, lambda endpoint: print(f"{READY}{endpoint}", flush=True), args.warm_models)


if __name__ == "__main__":
    _main()
