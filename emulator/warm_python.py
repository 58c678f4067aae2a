"""One warm interpreter of the framework container's Python that forks a child per container or job.

Each training job and each endpoint variant's inference container is a process of the model-code
Python under SageMaker's contract (emulator/container.py). Started fresh, each imports PyTorch (and
numpy, scikit-learn) again: 2-4 s of CPU on a quiet machine and several times that on a loaded one, seven
times in the demo. Here one process of that Python imports them once (`WARM_MODULES`) and forks a
child per start; the child then becomes what the fresh process `python SCRIPT ARGS` would have been:
- its environment is the one given and nothing else (os.environ cleared, then set), its working
  directory the one given, sys.argv `[SCRIPT, *ARGS]`;
- sys.path is what that command with that PYTHONPATH gives: the script's folder, the PYTHONPATH
  entries, then the interpreter's own; a module the server imported that a folder of the new path
  would shadow is dropped, so the child imports its own;
- PYTHONDONTWRITEBYTECODE and PYTHONUNBUFFERED are applied (sys.dont_write_bytecode; stdout and stderr
  unbuffered, as `-u` makes them);
- stdin, stdout and stderr are the descriptors the caller passed (SCM_RIGHTS over a Unix socket);
- `random` (reseeded by its own fork hook) and numpy's global generator are reseeded from the OS, as a
  fresh process seeds them; torch's default generator has its fixed start seed, as in a fresh process
  (importing torch draws nothing from it);
- its own session (process group) when asked, as subprocess's `start_new_session`;
- the script runs as __main__ (runpy); the exit status is Python's (SystemExit's code; 1 and the
  traceback on stderr for an uncaught exception), after non-daemon threads are joined and atexit
  handlers run; a signal's death is reported as subprocess does (-signal).
What cannot be set again after the interpreter started is not faked: a child whose environment differs
from the server's in a variable read when the interpreter or a native library loads (PYTHON* beyond
the three above, OMP_*, MKL_*, LD_*, the locale... `can_fork`) is started fresh by the caller. Left
different from a fresh process: the string hash seed (one per server) and the modules already imported
(their import-time work happened once, in the server).

The server is this file run by that Python (standard library only): `python warm_python.py SOCKET
MODULE...`; it prints one JSON line when it listens and exits (killing its children's process groups)
when its stdin, the caller's lifeline, closes. The client side (`WarmPython`, `Forked`) is what
emulator/container.py uses; `Forked` answers the part of subprocess.Popen's interface the container
code uses (pid, stdin, stdout, returncode, poll, wait, kill, communicate).
"""

from __future__ import annotations

import sys

# What the interpreter loaded before running any script: a child's own folder never shadows these
# (in a fresh process they are loaded before its path is read either); anything loaded later may be.
LOADED_AT_START = frozenset(sys.modules)

import json  # noqa: E402
import locale  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402

# What the framework container's Python holds that every job or container of the reference models
# imports: the expensive imports (torch ~2.5 s, sklearn.metrics ~1.3 s, pandas ~0.5 s quiet).
WARM_MODULES = ("torch", "numpy", "pandas", "sklearn.metrics")
# Read when the interpreter or a native library loads: a child that needs other values than the
# server's cannot be forked from it (PYTHONPATH, PYTHONDONTWRITEBYTECODE, PYTHONUNBUFFERED are applied).
APPLIED_IN_CHILD = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
LOAD_TIME_PREFIXES = (
    "PYTHON",
    "OMP_",
    "GOMP_",
    "KMP_",
    "MKL_",
    "OPENBLAS_",
    "NUMEXPR_",
    "NPY_",
    "LD_",
    "MALLOC_",
    "CUDA_",
    "TORCH_",
    "PYTORCH_",
    "LC_",
    "LANG",
    "TZ",
)
MAX_MESSAGE = 1 << 20


class WarmPythonError(RuntimeError):
    """The warm interpreter cannot start a child (it did not start, or it is gone)."""


def _load_time(name: str) -> bool:
    return name not in APPLIED_IN_CHILD and name.startswith(LOAD_TIME_PREFIXES)


def can_fork(server_env: dict[str, str], child_env: dict[str, str]) -> bool:
    """Whether a child with `child_env` is what a fresh process would be when forked from a server
    started with `server_env`: every variable read at load time has the same value (or is absent in both)."""
    names = {n for n in (*server_env, *child_env) if _load_time(n)}
    return all(server_env.get(n) == child_env.get(n) for n in names)


# --- the client (the emulator's side) -----------------------------------------------------------


class Forked:
    """A child forked by the warm interpreter, driven like a subprocess.Popen (the part emulator/container.py uses)."""

    def __init__(self, args: list[str], pid: int, connection: socket.socket, stdin, stdout):
        self.args, self.pid, self.stdin, self.stdout = args, pid, stdin, stdout
        self.returncode: int | None = None
        self._connection = connection
        self._lock = threading.Lock()
        self._output: list[str] = []
        self._reader: threading.Thread | None = None

    def _status(self, timeout: float | None) -> int | None:
        """The exit status the server sends when it reaps the child (None: not within `timeout`)."""
        with self._lock:
            if self.returncode is None:
                self._connection.settimeout(timeout)
                try:
                    message = self._connection.recv(MAX_MESSAGE)
                except (TimeoutError, BlockingIOError):
                    return None
                except OSError:
                    message = b""
                # No message: the server went away without reaping it; it kills its children's groups then.
                self.returncode = json.loads(message)["returncode"] if message else -signal.SIGKILL
                self._connection.close()
            return self.returncode

    def poll(self) -> int | None:
        return self._status(0)

    def wait(self, timeout: float | None = None) -> int:
        status = self._status(timeout)
        if status is None:
            raise subprocess.TimeoutExpired(self.args, timeout)  # type: ignore[arg-type]
        return status

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        """Everything written to stdout until it closed, once the child has ended, as Popen.communicate:
        subprocess.TimeoutExpired when either takes longer than `timeout` (a process the child started
        may hold stdout open after it ended)."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        if self._reader is None:
            if self.stdin is not None:
                self.stdin.close()
            self._reader = threading.Thread(target=lambda: self._output.append(self.stdout.read()), daemon=True)
            self._reader.start()
        self.wait(timeout)
        self._reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if self._reader.is_alive():
            raise subprocess.TimeoutExpired(self.args, timeout)  # type: ignore[arg-type]
        self.stdout.close()
        return "".join(self._output), None


class WarmPython:
    """The warm interpreter of one Python: started once (`start`, in the background: the imports happen
    while the caller goes on), then `spawn` forks a child per start."""

    def __init__(self, python: str, modules: tuple[str, ...] = WARM_MODULES, env: dict[str, str] | None = None):
        self.python, self.modules = python, modules
        self.env = dict(env if env is not None else os.environ)
        self._process: subprocess.Popen | None = None
        self._path: str | None = None
        self._ready: dict | None = None
        self._lock = threading.Lock()

    def start(self) -> WarmPython:
        import tempfile

        with self._lock:
            if self._process is None:
                self._path = os.path.join(tempfile.mkdtemp(prefix="mlp-warm-python-"), "socket")
                # stdin is the lifeline (the server exits when it closes); stderr is the caller's log.
                self._process = subprocess.Popen(
                    [self.python, __file__, self._path, *self.modules],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=self.env,
                    cwd="/",
                    text=True,
                )
        return self

    def ready(self, timeout: float = 300) -> dict:
        """Wait until the server listens: {"pid", "imported", "failed"} (WarmPythonError if it cannot)."""
        self.start()
        with self._lock:
            if self._ready is None:
                line = _readline(self._process.stdout, timeout)  # type: ignore[union-attr]
                try:
                    self._ready = json.loads(line)
                except ValueError:
                    raise WarmPythonError(f"the warm interpreter {self.python} did not start (said {line!r})") from None
            return self._ready

    def can_fork(self, env: dict[str, str]) -> bool:
        return can_fork(self.env, env)

    def spawn(
        self, args: list[str], *, cwd: str, env: dict[str, str], stdin: bool, merge_stderr: bool, new_session: bool
    ) -> Forked:
        """Fork a child running `python args[1:]` (args[0] is the interpreter, the server's) as a fresh
        process would: see the module's docstring. stdout is a pipe; stderr goes into it (`merge_stderr`)
        or to this process's stderr; stdin is a pipe (`stdin`) or /dev/null."""
        if args[0] != self.python:
            raise WarmPythonError(f"{args[0]} is not the warm interpreter {self.python}")
        self.ready()
        child_in, parent_in = os.pipe() if stdin else (os.open(os.devnull, os.O_RDONLY), None)
        parent_out, child_out = os.pipe()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            connection.connect(self._path)  # type: ignore[arg-type]
            # What the interpreter adds at start (a fresh one would add it to this environment too).
            added = {k: v for k, v in self.ready()["environ"].items() if k not in self.env and k not in env}
            request = {"argv": args[1:], "cwd": cwd, "env": env, "added": added, "new_session": new_session}
            socket.send_fds(connection, [json.dumps(request).encode()], [child_in, child_out, child_out if merge_stderr else 2])
            reply = connection.recv(MAX_MESSAGE)
        except OSError as error:
            connection.close()
            for fd in (parent_in, parent_out):
                if fd is not None:
                    os.close(fd)
            raise WarmPythonError(f"the warm interpreter {self.python} is gone: {error}") from None
        finally:
            os.close(child_in)
            os.close(child_out)
        if not reply:
            connection.close()
            raise WarmPythonError(f"the warm interpreter {self.python} did not fork {args[1:]}")
        encoding = locale.getpreferredencoding(False)
        return Forked(
            args,
            json.loads(reply)["pid"],
            connection,
            open(parent_in, "w", encoding=encoding, errors="replace") if parent_in is not None else None,
            open(parent_out, encoding=encoding, errors="replace"),
        )

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                self._process.stdin.close()  # type: ignore[union-attr]
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
                self._process.stdout.close()  # type: ignore[union-attr]
                os.unlink(self._path) if os.path.exists(self._path) else None  # type: ignore[arg-type]
                os.rmdir(os.path.dirname(self._path))  # type: ignore[arg-type]
                self._process, self._ready = None, None


def _readline(stream, timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


# --- the server (the model-code Python's side) --------------------------------------------------


def _serve(path: str, modules: list[str]) -> None:
    import importlib

    base_path = sys.path[1:]  # the interpreter's own path, without this script's folder
    imported, failed = [], {}
    for name in modules:
        try:
            importlib.import_module(name)
            imported.append(name)
        except Exception as error:  # a missing library: its children import (and fail) as fresh ones would
            failed[name] = f"{type(error).__name__}: {error}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select through the wakeup fd
    # environ: what the interpreter added to the environment it was given (PEP 538's LC_CTYPE coercion)
    ready = {"pid": os.getpid(), "imported": imported, "failed": failed, "environ": dict(os.environ)}
    print(json.dumps(ready), flush=True)
    children: dict[int, socket.socket] = {}
    lifeline = sys.stdin.fileno()
    while True:
        readable, _, _ = select.select([listener, lifeline, wake_read], [], [])
        if wake_read in readable:
            os.read(wake_read, 4096)
        _reap(children)
        if lifeline in readable and not os.read(lifeline, 4096):
            for pid in children:  # the caller is gone: so are the containers it started
                try:
                    os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
            return
        if listener in readable:
            connection, _ = listener.accept()
            try:
                message, fds, _, _ = socket.recv_fds(connection, MAX_MESSAGE, 3)
                request = json.loads(message)
            except (OSError, ValueError):
                connection.close()
                continue
            pid = os.fork()
            if pid == 0:
                for open_socket in (listener, connection, *children.values()):
                    open_socket.close()
                for fd in (wake_read, wake_write):
                    os.close(fd)
                _become(request, fds, base_path)  # never returns
            for fd in fds:
                os.close(fd)
            try:
                connection.send(json.dumps({"pid": pid}).encode())
            except OSError:
                pass
            children[pid] = connection


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = children.pop(pid, None)
        if connection is not None:
            try:
                connection.send(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode())
            except OSError:
                pass  # the caller stopped listening
            connection.close()


def _shadowed(folders: list[str]) -> set[str]:
    """Top-level names the folders provide (modules and packages)."""
    names = set()
    for folder in folders:
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".py"):
                names.add(entry[:-3])
            elif os.path.isdir(os.path.join(folder, entry)) and entry.isidentifier():
                names.add(entry)
    return names


def _run_as_main(script: str) -> None:
    """Run `script` as `python script` runs it: a new __main__ module with the absolute __file__, no
    __spec__, sys.argv left as given (runpy.run_path would set argv[0] to the path)."""
    import builtins
    import io
    import types
    from importlib.machinery import SourceFileLoader

    main = types.ModuleType("__main__")
    main.__file__ = script
    main.__loader__ = SourceFileLoader("__main__", script)
    main.__spec__ = None
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    with io.open_code(script) as source:
        code = compile(source.read(), script, "exec", dont_inherit=True)
    exec(code, main.__dict__)


def _become(request: dict, fds: list[int], base_path: list[str]) -> None:
    import atexit
    import io

    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if request["new_session"]:
            os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in set(fds):
            if fd > 2:
                os.close(fd)
        env = {**request["added"], **request["env"]}
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(env)
        argv = request["argv"]
        script = os.path.abspath(argv[0])
        extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        own = [os.path.dirname(script), *extra]
        for name in _shadowed(own) & {m.partition(".")[0] for m in sys.modules} - LOADED_AT_START:
            for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[loaded]
        sys.path[:] = [*own, *base_path]
        sys.path_importer_cache.clear()
        sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
        unbuffered = bool(env.get("PYTHONUNBUFFERED"))
        encoding, errors = sys.stdout.encoding, sys.stdout.errors

        def output(fd: int, line_buffering: bool, errors: str) -> io.TextIOWrapper:
            raw = io.FileIO(fd, "w", closefd=False)
            if unbuffered:
                return io.TextIOWrapper(raw, encoding=encoding, errors=errors, write_through=True)  # type: ignore[arg-type]
            return io.TextIOWrapper(io.BufferedWriter(raw), encoding=encoding, errors=errors, line_buffering=line_buffering)

        sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=encoding)
        sys.stdout = sys.__stdout__ = output(1, False, errors)
        sys.stderr = sys.__stderr__ = output(2, True, "backslashreplace")
        # A fresh process seeds these from the OS (random reseeds itself after a fork).
        if "numpy.random" in sys.modules:
            sys.modules["numpy.random"].seed()
        if "torch" in sys.modules:
            sys.modules["torch"].seed()
        sys.argv = list(argv)
        try:
            _run_as_main(script)
            code = 0
        except SystemExit as exit_:
            if exit_.code is None:
                code = 0
            elif isinstance(exit_.code, int):
                code = exit_.code
            else:
                print(exit_.code, file=sys.stderr)
                code = 1
        except BaseException as error:
            tb = error.__traceback__
            while tb is not None and tb.tb_frame.f_code.co_filename != script:  # the script's frames, as Python prints them
                tb = tb.tb_next
            sys.excepthook(type(error), error.with_traceback(tb), tb)
            code = 1
        try:
            threading._shutdown()  # type: ignore[attr-defined]  # the interpreter joins non-daemon threads at exit
        except Exception:
            pass
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code & 0xFF)


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2:])
