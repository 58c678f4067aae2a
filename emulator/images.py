"""Push an image to the emulator's ECR as `docker push` would leave it (the emulator runs no registry):
a manifest through ECR PutImage, so SageMaker (patched strict, emulator.patches_strict) finds it."""

from __future__ import annotations

import hashlib
import json
import re

import boto3

# <registry>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>
IMAGE_URI = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/(?P<repository>[^:@]+):(?P<tag>[^@]+)$")


def config_blob(name: str) -> bytes:
    """The image's config blob: depends on the name, so distinct images get distinct digests, as on a registry."""
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"mlp.image": name}}}).encode()


def manifest(name: str) -> str:
    """A Docker image manifest (schema 2) naming the config blob by its sha256."""
    blob = config_blob(name)
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(blob),
                "digest": f"sha256:{hashlib.sha256(blob).hexdigest()}",
            },
            "layers": [],
        }
    )


def push_image(image_uri: str) -> str:
    """Push `image_uri` (repository:tag in this account's ECR) unless it is there; its digest."""
    match = IMAGE_URI.match(image_uri)
    if not match:
        raise ValueError(f"{image_uri!r} is not <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>")
    ecr, repository, tag = boto3.client("ecr"), match["repository"], match["tag"]
    found = ecr.list_images(repositoryName=repository, filter={"tagStatus": "TAGGED"})["imageIds"]
    for image in found:
        if image.get("imageTag") == tag:
            return image["imageDigest"]
    # The blob first, as `docker push` uploads it (a registry holds the blobs its manifests name).
    blob = config_blob(image_uri)
    upload = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    ecr.upload_layer_part(
        repositoryName=repository, uploadId=upload, partFirstByte=0, partLastByte=len(blob) - 1, layerPartBlob=blob
    )
    ecr.complete_layer_upload(
        repositoryName=repository, uploadId=upload, layerDigests=[f"sha256:{hashlib.sha256(blob).hexdigest()}"]
    )
    return ecr.put_image(repositoryName=repository, imageManifest=manifest(image_uri), imageTag=tag)["image"]["imageId"][
        "imageDigest"
    ]
