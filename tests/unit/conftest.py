from __future__ import annotations

import pytest

from config.platform import load_config
from tests.synth import synth


@pytest.fixture(scope="session")
def example_config():
    return load_config()


@pytest.fixture(scope="session")
def stacks(example_config, tmp_path_factory):
    """Every stack of the example config, synthesized once per test session."""
    return synth(example_config, tmp_path_factory.mktemp("cdktf.out"))
