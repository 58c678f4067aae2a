"""Narrow moto patches for several accounts on one emulator and for the cross-account calls of a model
promotion (ops/promote.py); see emulator/patches.py for the rules every patch follows. Written against
moto 5.2.5.

Cross-account calls are routed to the owning account only when that account's resource policy admits
the caller (Allow for the caller's principal and the action, Deny wins, conditions evaluated by
emulator/iam_check.py's evaluator with `aws:PrincipalArn`): as strict as AWS's resource-policy half of
a cross-account decision. The identity-policy half is the caller's own role, checked in the tests.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

ACCOUNT_ID = re.compile(r"^\d{12}$")


ACCOUNT_CREDENTIAL = re.compile(r"Credential=(\d{12})/")


def access_key_names_its_account() -> None:
    """moto: an access key it did not issue belongs to the default account (123456789012), and a key that
    is not 20 characters long is not even read from the request, so one server plays one account for
    Terraform's static credentials. Patched: a key of twelve digits names its account (LocalStack's
    convention), so the `localprod` environment's stack applies into its own account. Keys moto issued
    (AssumeRole, CreateAccessKey) keep their own account."""
    import moto.iam.models as iam_models
    from moto.core.responses import BaseResponse

    read_key = BaseResponse.get_access_key

    def get_access_key(self: BaseResponse) -> str:
        match = ACCOUNT_CREDENTIAL.search(self.headers.get("Authorization", "") or "")
        return match[1] if match else read_key(self)

    BaseResponse.get_access_key = get_access_key

    original = iam_models.get_account_id_from

    def get_account_id_from(access_key: str) -> str:
        account = original(access_key)
        if account == iam_models.DEFAULT_ACCOUNT_ID and ACCOUNT_ID.match(access_key or ""):
            return access_key
        return account

    iam_models.get_account_id_from = get_account_id_from


def caller_of(response: Any) -> tuple[str, dict[str, str]]:
    """The calling principal's ARN (the role of AssumeRole credentials, a user's key, else the account
    root) and the request context AWS derives from it: `aws:PrincipalArn`, `aws:PrincipalAccount` and
    one `aws:PrincipalTag/<key>` per tag of the role or user."""
    from moto.iam.models import iam_backends

    account, key_id = response.get_current_account(), response.get_access_key()
    iam = iam_backends[account]["aws"]
    key = iam.access_keys.get(key_id)
    arn, tags = f"arn:aws:iam::{account}:root", []
    if key is not None and getattr(key, "role_arn", None):
        arn = key.role_arn
        try:
            tags = iam.get_role_by_arn(arn).tags or []
        except Exception:
            tags = []
    elif key is not None and getattr(key, "user_name", None):
        arn = f"arn:aws:iam::{account}:user/{key.user_name}"
        tags = iam.get_user(key.user_name).tags or []
    tag_items = tags.items() if isinstance(tags, dict) else [(t["Key"], t["Value"]) for t in tags]
    context = {"aws:PrincipalArn": arn, "aws:PrincipalAccount": account}
    for name, value in tag_items:
        context[f"aws:PrincipalTag/{name}"] = value["Value"] if isinstance(value, dict) else value
    return arn, context


def admits(policy: str | None, caller: str, context: dict[str, str], action: str, resource: str) -> bool:
    """Whether a resource policy grants `caller` (with its request `context`) the `action` on `resource`
    (Deny wins; a statement without Resource applies to the resource the policy is attached to)."""
    from emulator.iam_check import Request, evaluate

    if not policy:
        return False
    account = caller.split(":")[4]
    statements = json.loads(policy).get("Statement", [])
    matching = []
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal")
        principals = principal.get("AWS", []) if isinstance(principal, dict) else [principal]
        principals = principals if isinstance(principals, list) else [principals]
        if any(p in ("*", caller, f"arn:aws:iam::{account}:root", account) for p in principals):
            matching.append({"Resource": resource, **statement})
    return evaluate(matching, Request(action, resource, context)) is True


def _as_owner(response: Any, owner: str, call: Callable[[], Any]) -> Any:
    saved = response.current_account
    response.current_account = owner
    try:
        return call()
    finally:
        response.current_account = saved


def sagemaker_model_package_group_policy() -> None:
    """moto: Put/Get/DeleteModelPackageGroupPolicy are not implemented (HTTP 500), so the
    `aws_sagemaker_model_package_group_policy` of a promotion source cannot apply. Patched: the policy is
    kept on the group (the group must exist, the policy must be JSON), described back and deleted."""
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    def group_of(self: SageMakerResponse):
        name = self._get_param("ModelPackageGroupName").split("/")[-1]
        return self.sagemaker_backend.describe_model_package_group(name)  # raises like AWS when missing

    def put_model_package_group_policy(self: SageMakerResponse) -> str:
        group, policy = group_of(self), self._get_param("ResourcePolicy")
        try:
            json.loads(policy)
        except (TypeError, ValueError):
            raise ValidationError("ResourcePolicy is not valid JSON") from None
        group.resource_policy = policy
        return json.dumps({"ModelPackageGroupArn": group.arn})

    def get_model_package_group_policy(self: SageMakerResponse) -> str:
        group = group_of(self)
        if not getattr(group, "resource_policy", None):
            raise ValidationError(f"Cannot find resource policy for {group.arn}")
        return json.dumps({"ResourcePolicy": group.resource_policy})

    def delete_model_package_group_policy(self: SageMakerResponse) -> str:
        group = group_of(self)
        group.resource_policy = None
        return json.dumps({})

    SageMakerResponse.put_model_package_group_policy = put_model_package_group_policy
    SageMakerResponse.get_model_package_group_policy = get_model_package_group_policy
    SageMakerResponse.delete_model_package_group_policy = delete_model_package_group_policy


SAGEMAKER_PACKAGE_ARN = re.compile(r"^arn:aws:sagemaker:([a-z0-9-]+):(\d{12}):model-package(?:-group)?/([^/]+)(?:/\d+)?$")


def sagemaker_cross_account_packages() -> None:
    """moto: a model package or group named by the ARN of another account is looked up in the caller's
    account (not found). Patched: DescribeModelPackage and ListModelPackages with another account's ARN
    are answered from that account when its group's resource policy admits the caller; else
    AccessDeniedException, as AWS answers."""
    from moto.core.exceptions import JsonRESTError
    from moto.sagemaker.models import sagemaker_backends
    from moto.sagemaker.responses import SageMakerResponse

    def routed(original: Callable[[Any], Any], parameter: str, action: str) -> Callable[[Any], Any]:
        def handle(self: SageMakerResponse) -> Any:
            match = SAGEMAKER_PACKAGE_ARN.match(self._get_param(parameter) or "")
            if not match or match[2] == self.current_account:
                return original(self)
            region, owner, group_name = match.groups()
            group = sagemaker_backends[owner][region].model_package_groups.get(group_name)
            caller, context = caller_of(self)
            if group is None or not admits(
                getattr(group, "resource_policy", None), caller, context, action, self._get_param(parameter)
            ):
                raise JsonRESTError(
                    "AccessDeniedException",
                    f"User: {caller} is not authorized to perform: {action} on "
                    f"resource: {self._get_param(parameter)} because no resource-based policy allows it",
                )
            return _as_owner(self, owner, lambda: original(self))

        return handle

    SageMakerResponse.describe_model_package = routed(
        SageMakerResponse.describe_model_package, "ModelPackageName", "sagemaker:DescribeModelPackage"
    )
    SageMakerResponse.list_model_packages = routed(
        SageMakerResponse.list_model_packages, "ModelPackageGroupName", "sagemaker:ListModelPackages"
    )


def ecr_digest_is_the_manifests_sha256() -> None:
    """moto: an image's digest is the sha256 of its layer digests joined (every image without layers gets
    sha256 of nothing), where a registry's digest is the sha256 of the manifest bytes: distinct images
    share a digest, and a manifest copied to another registry cannot be checked against its digest.
    Patched: the digest is the sha256 of the manifest as put, as on ECR."""
    import hashlib

    from moto.ecr.models import Image

    def _create_digest(self: Image) -> None:
        self._image_digest = "sha256:" + hashlib.sha256(self.image_manifest.encode("utf-8")).hexdigest()

    Image._create_digest = _create_digest


def ecr_layer_download() -> None:
    """moto: GetDownloadUrlForLayer is not implemented, and CompleteLayerUpload keeps a layer's size
    only, so no layer can be read back (an image cannot be copied between registries). Patched: the
    uploaded bytes are kept with the layer, and GetDownloadUrlForLayer answers a `data:` URL of them
    (ECR answers a presigned S3 URL; both are read with one GET). A layer never uploaded is
    LayersNotFoundException, as on ECR."""
    from moto.core.exceptions import JsonRESTError
    from moto.ecr.models import ECRBackend
    from moto.ecr.responses import ECRResponse

    original_complete = ECRBackend.complete_layer_upload

    def complete_layer_upload(
        self: ECRBackend, repository_name: str, upload_id: str, layer_digests: list[str], registry_id: str | None = None
    ) -> dict[str, Any]:
        repository = self._get_repository(repository_name, registry_id)
        upload = repository.uploads.get(upload_id)
        data = bytes(upload.layer_parts) if upload is not None else b""
        result = original_complete(self, repository_name, upload_id, layer_digests, registry_id=registry_id)
        if not hasattr(repository, "layer_blobs"):
            repository.layer_blobs = {}
        repository.layer_blobs[result["layerDigest"]] = data
        return result

    def get_download_url_for_layer(self: ECRResponse) -> str:
        name, digest = self._get_param("repositoryName"), self._get_param("layerDigest")
        repository = self.ecr_backend._get_repository(name, self._get_param("registryId"))
        blob = getattr(repository, "layer_blobs", {}).get(digest)
        if blob is None:
            raise JsonRESTError("LayersNotFoundException", f"The layer {digest} does not exist in {name}")
        url = "data:application/octet-stream;base64," + base64.b64encode(blob).decode()
        return json.dumps({"downloadUrl": url, "layerDigest": digest})

    ECRBackend.complete_layer_upload = complete_layer_upload
    ECRResponse.get_download_url_for_layer = get_download_url_for_layer


def ecr_cross_account_pull() -> None:
    """moto: a `registryId` of another account is looked up in the caller's registry (not found). Patched:
    BatchGetImage, BatchCheckLayerAvailability and GetDownloadUrlForLayer with another account's registry
    are answered from that registry when the repository's policy admits the caller for the action; else
    AccessDeniedException (a repository without a policy admits no other account, as on ECR)."""
    from moto.core.exceptions import JsonRESTError
    from moto.ecr.models import ecr_backends
    from moto.ecr.responses import ECRResponse

    def routed(original: Callable[[Any], Any], action: str) -> Callable[[Any], Any]:
        def handle(self: ECRResponse) -> Any:
            owner = self._get_param("registryId")
            if not owner or owner == self.current_account:
                return original(self)
            name = self._get_param("repositoryName")
            repository = ecr_backends[owner][self.region].repositories.get(name)
            caller, context = caller_of(self)
            arn = f"arn:aws:ecr:{self.region}:{owner}:repository/{name}"
            if repository is None or not admits(repository.policy, caller, context, action, arn):
                raise JsonRESTError(
                    "AccessDeniedException",
                    f"User: {caller} is not authorized to perform: {action} on "
                    f"resource: {arn} because no resource-based policy allows it",
                )
            return _as_owner(self, owner, lambda: original(self))

        return handle

    for operation, action in (
        ("batch_get_image", "ecr:BatchGetImage"),
        ("batch_check_layer_availability", "ecr:BatchCheckLayerAvailability"),
        ("get_download_url_for_layer", "ecr:GetDownloadUrlForLayer"),
    ):
        setattr(ECRResponse, operation, routed(getattr(ECRResponse, operation), action))


PATCHES: list[Callable[[], None]] = [
    access_key_names_its_account,
    sagemaker_model_package_group_policy,
    sagemaker_cross_account_packages,
    ecr_digest_is_the_manifests_sha256,
    ecr_layer_download,  # before ecr_cross_account_pull, which routes the implemented operation
    ecr_cross_account_pull,
]
