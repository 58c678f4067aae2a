"""A team's model code as a deterministic archive, pinned like data: same files, same bytes, same sha256.

The bundle is SageMaker script mode's `sourcedir.tar.gz`: the team's directory (`training.source_dir`:
its entry points at the top) plus the platform code the entry points import, shipped inside so the
container needs nothing beyond its framework: `modelkit/` and the Lambdas' `common` definitions and
manifest readers and the training-job names (common/features.py, manifest.py, aws.py, training.py), and `contract/`. Entries are sorted, with fixed times,
owners and modes, and the gzip header carries no time or name, so packing the same files again (or on
another machine with the same zlib) gives the same bytes. The git commit is read from git when the
directory is in a work tree, with whether the packed files differ from it; never typed by hand.

Standard library only: the GPU check (scripts/run_reference_models.py) packs with it where nothing else
is installed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (name in the bundle, file in this repository): the platform code every bundle carries.
PLATFORM_FILES: tuple[tuple[str, str], ...] = (
    ("common/__init__.py", "common/__init__.py"),
    ("common/aws.py", "common/aws.py"),
    ("common/features.py", "common/features.py"),
    ("common/manifest.py", "common/manifest.py"),
    ("common/runs.py", "common/runs.py"),  # common.training imports it (the run's job name)
    ("common/training.py", "common/training.py"),
) + tuple(
    (f"{package}/{p.name}", f"{package}/{p.name}")
    for package in ("contract", "modelkit")
    for p in sorted((ROOT / package).glob("*.py"))
)
RESERVED_TOP_LEVEL = {"common", "contract", "modelkit"}
SKIPPED_NAMES = {".git", "__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache", ".venv", ".DS_Store"}
SKIPPED_SUFFIXES = (".pyc", ".pyo")
DEFAULT_ENTRY_POINTS = ("train.py", "inference.py")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # code, not data: a larger bundle is a mistake (data goes through manifests)


class BundleError(ValueError):
    """The directory cannot be packed as a code bundle."""


@dataclass(frozen=True)
class GitState:
    """What git says about the packed files: HEAD's commit, the directory's tree there, and whether any
    packed file differs from HEAD (modified or untracked)."""

    commit: str
    tree: str | None
    dirty: bool


@dataclass(frozen=True)
class CodeBundle:
    data: bytes
    sha256: str
    files: tuple[tuple[str, str, int], ...]  # (name in bundle, sha256, size)
    git: GitState | None

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.data)
        return path


def bundle_files(
    source_dir: Path, entry_points: tuple[str, ...] = DEFAULT_ENTRY_POINTS, repo_root: Path = ROOT
) -> list[tuple[str, Path]]:
    """(name in bundle, file) for the team's directory plus the platform code, sorted by name."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise BundleError(f"code directory {source_dir} does not exist or is not a directory")
    files: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(source_dir, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_NAMES)
        for name in list(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):
                raise BundleError(f"{os.path.join(dirpath, name)} is a symbolic link: a bundle holds real files only")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name in SKIPPED_NAMES or name.endswith(SKIPPED_SUFFIXES):
                continue
            if path.is_symlink() or not path.is_file():
                raise BundleError(f"{path} is a symbolic link or special file: a bundle holds real files only")
            files.append((path.relative_to(source_dir).as_posix(), path))
    clash = sorted({name.split("/")[0] for name, _ in files} & RESERVED_TOP_LEVEL)
    if clash:
        raise BundleError(f"{source_dir} has {clash} at its top: those names are the platform code shipped in every bundle")
    missing = [e for e in entry_points if e not in {name for name, _ in files}]
    if missing:
        raise BundleError(f"{source_dir} has no entry point(s) {missing} at its top")
    files += [(name, repo_root / source) for name, source in PLATFORM_FILES]
    return sorted(files)


def deterministic_tar_gz(entries: list[tuple[str, bytes, bool]]) -> bytes:
    """tar.gz of (name, content, executable) entries in the order given, with nothing in it but names,
    contents and modes (times 0, owner root, no gzip time or file name)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content, executable in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uid, info.gid, info.uname, info.gname = len(content), 0, 0, 0, "", ""
            info.mode = 0o755 if executable else 0o644
            tar.addfile(info, io.BytesIO(content))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as archive:
        archive.write(raw.getvalue())
    return compressed.getvalue()


def pack(
    source_dir: Path,
    entry_points: tuple[str, ...] = DEFAULT_ENTRY_POINTS,
    repo_root: Path = ROOT,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> CodeBundle:
    """Pack `source_dir` and the platform code into a deterministic tar.gz."""
    entries, total = [], 0
    for name, path in bundle_files(source_dir, entry_points, repo_root):
        content = path.read_bytes()
        total += len(content)
        if total > max_bytes:
            raise BundleError(
                f"{source_dir}: more than {max_bytes} bytes of files (at {name}); a code bundle holds "
                "code: read data through the run's manifest"
            )
        entries.append((name, content, bool(path.stat().st_mode & stat.S_IXUSR)))
    data = deterministic_tar_gz(entries)
    listing = tuple((name, hashlib.sha256(content).hexdigest(), len(content)) for name, content, _ in entries)
    sources = [Path(source_dir)] + [repo_root / source for _, source in PLATFORM_FILES]
    return CodeBundle(data, hashlib.sha256(data).hexdigest(), listing, git_state(Path(source_dir), sources))


def unpack(data: bytes, destination: Path) -> Path:
    """Extract a bundle (refusing paths outside `destination`, links and devices)."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(destination, filter="data")
    return destination


def _git(directory: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_state(directory: Path, packed_paths: list[Path] | None = None) -> GitState | None:
    """The commit `directory` is at, read from git; None when it is not in a git work tree (or git is
    absent, or nothing is committed yet). `dirty` covers `packed_paths` (default: the directory)."""
    directory = Path(directory).resolve()
    if _git(directory, "rev-parse", "--is-inside-work-tree") != "true":
        return None
    commit = _git(directory, "rev-parse", "--verify", "--quiet", "HEAD")
    if not commit:
        return None
    top = Path(_git(directory, "rev-parse", "--show-toplevel") or directory)
    prefix = directory.relative_to(top).as_posix() if directory != top else ""
    tree = _git(directory, "rev-parse", "--verify", "--quiet", f"HEAD:{prefix}")
    inside = [str(Path(p).resolve()) for p in (packed_paths or [directory]) if Path(p).resolve().is_relative_to(top)]
    status = _git(top, "status", "--porcelain", "--untracked-files=all", "--", *inside)
    return GitState(commit=commit, tree=tree, dirty=bool(status) if status is not None else True)
