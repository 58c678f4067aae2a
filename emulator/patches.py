"""Narrow patches for moto's gaps, applied only inside the embedded emulator.

Each patch names the moto behaviour it works around and has a test of its own in
tests/integration/test_emulator_patches.py. Never drop a resource from a stack under test instead.
Patches are written against moto 5.2.5 (pinned in requirements.txt).
"""

from __future__ import annotations

import json
from collections.abc import Callable

_applied = False


# Patches are grouped by area, one module each (emulator/patches_<area>.py, each with a PATCHES list),
# so the people working on different services do not edit one file.
AREA_MODULES = (
    "emulator.patches_serving",
    "emulator.patches_monitoring",
    "emulator.patches_features",
    "emulator.patches_loop",
    "emulator.patches_lambda",
    "emulator.patches_strict",
    "emulator.patches_training",
    "emulator.patches_cost",
    "emulator.patches_runtime",
    "emulator.patches_accounts",
)


def all_patches() -> list[Callable[[], None]]:
    import importlib

    patches = list(PATCHES)
    for name in AREA_MODULES:
        patches += importlib.import_module(name).PATCHES
    return patches


def apply_all() -> None:
    """Apply every patch once per process (idempotent)."""
    global _applied
    if _applied:
        return
    for patch in all_patches():
        patch()
    _applied = True


def s3_logging_accepts_string_principal() -> None:
    """moto: PutBucketLogging checks the target bucket's policy with `stmt["Principal"].get(...)`, which
    raises (HTTP 500) when any statement has `"Principal": "*"` — valid IAM, used by our TLS-only deny.
    Patched: statements whose Principal is not a mapping are ignored by that check (they cannot be the
    logging-service grant it looks for)."""
    from moto.s3.models import FakeBucket

    original = FakeBucket._log_permissions_enabled_policy

    def check(target_bucket, target_prefix):
        policy = target_bucket.policy
        if not policy:
            return original(target_bucket, target_prefix)
        document = json.loads(policy.decode())
        statements = document.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        only_mapping_principals = [s for s in statements if isinstance(s.get("Principal", {}), dict)]
        stand_in = type("PolicyView", (), {})()
        stand_in.policy = json.dumps({**document, "Statement": only_mapping_principals}).encode()
        stand_in.partition = target_bucket.partition
        stand_in.name = target_bucket.name
        return original(stand_in, target_prefix)

    FakeBucket._log_permissions_enabled_policy = staticmethod(check)


def sagemaker_delete_model_package_group() -> None:
    """moto: DeleteModelPackageGroup is not implemented (HTTP 500), so `terraform destroy` fails.
    Patched: remove the group; like AWS, refuse while it still holds model packages."""
    from moto.core.responses import EmptyResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    def delete_model_package_group(self, model_package_group_name: str) -> None:
        self.describe_model_package_group(model_package_group_name)  # raises like AWS when missing
        if any(p.model_package_group_name == model_package_group_name for p in self.model_packages.values()):
            raise ValidationError(f"Model Package Group {model_package_group_name} is not empty.")
        del self.model_package_groups[model_package_group_name]

    def response(self) -> EmptyResult:
        self.sagemaker_backend.delete_model_package_group(self._get_param("ModelPackageGroupName"))
        return EmptyResult()

    SageMakerModelBackend.delete_model_package_group = delete_model_package_group
    SageMakerResponse.delete_model_package_group = response


def s3_bucket_policy_skips_conditional_statements() -> None:
    """moto: bucket policies are enforced without their Condition blocks ("Conditions are not taken into
    account", moto's put_bucket_policy docstring), so a conditional Deny becomes unconditional: our
    TLS-only and KMS-only statements then deny every request. Patched: statements with a Condition are
    left out of moto's evaluation; unconditional statements are still enforced. The conditions
    themselves are asserted on the synthesized policies (tests/unit), not on the emulator."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self, action: str, resource: str):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode())
        statements = document.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        evaluated = [s for s in statements if not s.get("Condition")]
        return IAMPolicy(json.dumps({**document, "Statement": evaluated})).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission


PATCHES: list[Callable[[], None]] = [
    s3_logging_accepts_string_principal,
    sagemaker_delete_model_package_group,
    s3_bucket_policy_skips_conditional_statements,
]
