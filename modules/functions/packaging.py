"""Deterministic Lambda packages: the same source always gives the same zip bytes (and hash).

A zip records file times and order; with those fixed, a deploy with no code change changes nothing
(Terraform compares `source_code_hash`). Each package holds `handler.py` of one handler folder and the
shared packages `common/` (the runtime library) and `contract/` (what stacks and handlers agree on), at
the zip's root: the same import names as in this repository, nothing else (no tests, no caches).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = ROOT / "lambdas"
BUILD_DIR = ROOT / ".mlp" / "build" / "lambdas"
SHARED_PACKAGES = ("common", "contract")  # top-level packages every handler zip carries
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can record


def package_files(handler: str, root: Path = ROOT) -> list[tuple[str, Path]]:
    """(name in zip, source file) for `root/lambdas/<handler>/` plus the shared packages, sorted by name."""
    folder = root / "lambdas" / handler
    if not (folder / "handler.py").is_file():
        raise FileNotFoundError(f"no Lambda handler at {folder / 'handler.py'}")
    files = [
        (path.relative_to(folder).as_posix(), path)
        for path in folder.rglob("*.py")
        if path.name != "__init__.py" or path.parent != folder
    ]
    files += [(path.relative_to(root).as_posix(), path) for package in SHARED_PACKAGES for path in (root / package).rglob("*.py")]
    return sorted((name, path) for name, path in files if "__pycache__" not in name)


def build_package(handler: str, root: Path = ROOT, build_dir: Path = BUILD_DIR) -> Path:
    """Write (or reuse) the handler's zip; its file name carries the content hash."""
    files = package_files(handler, root)
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    target = build_dir / f"{handler}-{digest.hexdigest()[:16]}.zip"
    if target.exists():
        return target
    build_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    partial.replace(target)
    return target


def code_sha256(package: Path) -> str:
    """What Lambda reports as a function's CodeSha256: the base64 SHA-256 of its package's bytes."""
    return base64.b64encode(hashlib.sha256(package.read_bytes()).digest()).decode()
