"""Deterministic Lambda packages: the same source always gives the same zip bytes (and hash).

A zip records file times and order; with those fixed, a deploy with no code change changes nothing
(Terraform compares `source_code_hash`). Each package holds `handler.py` of one handler folder and the
shared `common/` package, nothing else (no tests, no caches).
"""
from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
BUILD_DIR = Path(__file__).resolve().parents[2] / ".mlp" / "build" / "lambdas"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can record


def package_files(handler: str, lambdas_dir: Path = LAMBDAS_DIR) -> list[tuple[str, Path]]:
    """(name in zip, source file) for a handler folder plus `common/`, sorted by name in zip."""
    folder = lambdas_dir / handler
    if not (folder / "handler.py").is_file():
        raise FileNotFoundError(f"no Lambda handler at {folder / 'handler.py'}")
    files = [(path.relative_to(folder).as_posix(), path) for path in folder.rglob("*.py") if path.name != "__init__.py" or path.parent != folder]
    files += [(f"common/{path.relative_to(lambdas_dir / 'common').as_posix()}", path) for path in (lambdas_dir / "common").rglob("*.py")]
    return sorted((name, path) for name, path in files if "__pycache__" not in name)


def build_package(handler: str, lambdas_dir: Path = LAMBDAS_DIR, build_dir: Path = BUILD_DIR) -> Path:
    """Write (or reuse) the handler's zip; its file name carries the content hash."""
    files = package_files(handler, lambdas_dir)
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
