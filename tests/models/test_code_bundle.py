"""The code bundle packer: same files -> same bytes; what goes in; what is refused; git state from git."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ops.code_bundle import (
    PLATFORM_FILES,
    ROOT,
    BundleError,
    deterministic_tar_gz,
    git_state,
    pack,
    unpack,
)

FRAUD = ROOT / "model_code" / "fraud"


@pytest.fixture
def team_dir(tmp_path: Path) -> Path:
    target = tmp_path / "team"
    shutil.copytree(FRAUD, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getnames()


def test_same_files_give_the_same_bytes_whatever_their_times_and_location(team_dir: Path, tmp_path: Path):
    first = pack(team_dir)
    os.utime(team_dir / "train.py", (1, 1))
    (team_dir / "model.py").chmod(0o600)
    moved = tmp_path / "elsewhere" / "fraud"
    shutil.copytree(team_dir, moved)
    again = pack(moved)
    assert again.data == first.data and again.sha256 == first.sha256
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()


def test_a_changed_byte_changes_the_hash(team_dir: Path):
    before = pack(team_dir)
    (team_dir / "model.py").write_text((team_dir / "model.py").read_text() + "\n# tuned\n")
    after = pack(team_dir)
    assert after.sha256 != before.sha256
    assert [n for (n, digest, _), (_, old, _) in zip(after.files, before.files) if digest != old] == ["model.py"]


def test_the_bundle_holds_the_team_code_at_the_top_and_the_platform_code_verbatim(team_dir: Path):
    (team_dir / "__pycache__").mkdir()
    (team_dir / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0")
    (team_dir / "stale.pyc").write_bytes(b"\0")
    (team_dir / "helpers").mkdir()
    (team_dir / "helpers" / "scaling.py").write_text("X = 1\n")
    bundle = pack(team_dir)
    listed = names(bundle.data)
    assert listed == sorted(listed)
    assert {"train.py", "inference.py", "model.py", "helpers/scaling.py"} <= set(listed)
    assert not [n for n in listed if n.endswith(".pyc") or "__pycache__" in n]
    with tarfile.open(fileobj=io.BytesIO(bundle.data), mode="r:gz") as tar:
        for name, source in PLATFORM_FILES:
            assert tar.extractfile(name).read() == (ROOT / source).read_bytes(), name
        member = tar.getmember("train.py")
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (0, 0, 0, "", "")
    # The definitions parser in the bundle is the Lambdas' own module, not a copy kept by hand.
    assert ("common/features.py", "common/features.py") in PLATFORM_FILES


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda d: (d / "inference.py").unlink(), "no entry point(s) ['inference.py']"),
        (lambda d: (d / "modelkit").mkdir() or (d / "modelkit" / "x.py").write_text(""), "['modelkit'] at its top"),
        (
            lambda d: (d / "common.py").write_text("") or (d / "common").mkdir() or (d / "common" / "a.py").write_text(""),
            "['common'] at its top",
        ),
        (lambda d: (d / "link.py").symlink_to(d / "model.py"), "symbolic link"),
        (lambda d: (d / "data").mkdir() or (d / "data" / "big.csv").write_bytes(b"x" * 2048), "more than 1024 bytes"),
    ],
)
def test_refuses_what_cannot_be_a_code_bundle(team_dir: Path, breakage, message):
    breakage(team_dir)
    with pytest.raises(BundleError) as error:
        pack(team_dir, max_bytes=1024 if "bytes" in message else 20 * 1024 * 1024)
    assert message in str(error.value)


def test_refuses_a_directory_that_is_not_there(tmp_path: Path):
    with pytest.raises(BundleError, match="does not exist"):
        pack(tmp_path / "absent")


def test_unpack_round_trip_and_refuses_paths_outside(tmp_path: Path):
    bundle = pack(FRAUD)
    unpack(bundle.data, tmp_path / "code")
    assert (tmp_path / "code" / "train.py").read_bytes() == (FRAUD / "train.py").read_bytes()
    assert (tmp_path / "code" / "common" / "features.py").is_file()
    hostile = deterministic_tar_gz([("../escaped.py", b"print(1)", False)])
    with pytest.raises(tarfile.TarError):
        unpack(hostile, tmp_path / "hostile")
    assert not (tmp_path / "escaped.py").exists()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_git_state_is_read_from_git(tmp_path: Path):
    repo = tmp_path / "repo"
    code = repo / "models" / "fraud"
    shutil.copytree(FRAUD, code, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "-q")
    assert git_state(code) is None  # a work tree with no commit yet: nothing to pin
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "fraud model")
    state = git_state(code)
    assert state.commit == git(repo, "rev-parse", "HEAD")
    assert state.tree == git(repo, "rev-parse", "HEAD:models/fraud")
    assert state.dirty is False
    (code / "model.py").write_text("# changed\n")
    assert git_state(code).dirty is True
    git(repo, "checkout", "-q", "--", ".")
    (code / "notes.py").write_text("")  # untracked, and it would be packed
    assert git_state(code).dirty is True


def test_git_state_outside_a_work_tree_is_none(tmp_path: Path):
    shutil.copytree(FRAUD, tmp_path / "fraud", ignore=shutil.ignore_patterns("__pycache__"))
    assert git_state(tmp_path / "fraud") is None
    assert pack(tmp_path / "fraud").git is None


def test_examples_match_the_platform_config():
    """model_code/examples/<team>.json (read where no project venv exists) is what platform.yaml says."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("write_model_examples", ROOT / "scripts" / "write_model_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from config.platform import load_config

    teams = {t.name: t for t in load_config(ROOT / "platform.yaml").teams}
    examples = sorted((ROOT / "model_code" / "examples").glob("*.json"))
    assert [p.stem for p in examples] == sorted(p.name for p in (ROOT / "model_code").iterdir() if p.name in teams)
    for path in examples:
        assert path.read_text() == module.render(module.example_inputs(teams[path.stem])), (
            f"{path} is stale: run .venv/bin/python -m scripts.write_model_examples"
        )
        assert json.loads(path.read_text())["definitions"]["version"]
