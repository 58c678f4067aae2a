"""The platform config schema (pydantic v2) and its loader: what `platform.yaml` may say.

Constructs (modules/) and stacks (stacks/) import it; it imports neither.
"""
