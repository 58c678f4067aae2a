"""Test-wide set-up. The project root is the import root (pytest's rootdir, and `python -m pytest`
puts the working directory on the path): `common`, `contract`, `config` and the handlers
(`lambdas.<name>.handler`) import under the same names as in a Lambda zip or the CLI."""

from __future__ import annotations

import os

# jsii prints a large banner on every run under Node 20 (end of life); the message is known.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
