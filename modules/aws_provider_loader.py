"""Load only the AWS provider bindings a stack uses.

`import cdktf_cdktf_provider_aws` runs a package `__init__` that imports all ~2,135 resource modules
(about 15-20 s here). Each resource module needs only the package's `_jsii` assembly and cdktf, so we
register a bare package object under the same name, with the real package's search path, and let
ordinary `from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket` statements import the one
submodule they name. Everything else (types, jsii assembly, behaviour) is the published package.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

PACKAGE = "cdktf_cdktf_provider_aws"

# jsii prints a large banner on every run under Node 20 (end of life); the message is known.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def install() -> None:
    """Register the bare package unless the provider package (or our stand-in) is already loaded."""
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{PACKAGE} is not installed; run: pip install -r requirements.txt")
    package = types.ModuleType(PACKAGE, "AWS provider bindings, loaded one resource module at a time")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__package__ = PACKAGE
    sys.modules[PACKAGE] = package
