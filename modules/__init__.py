"""Constructs, one concern each. Importing this package installs the fast AWS provider loader first."""

from modules import aws_provider_loader as _aws_provider_loader

_aws_provider_loader.install()
