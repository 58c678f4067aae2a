"""Push an image to the emulator's ECR as `docker push` would leave it (the emulator runs no registry):
a manifest through ECR PutImage, so SageMaker (patched strict, emulator.patches_strict) finds it."""
from __future__ import annotations

import hashlib
import json
import re

import boto3

# <registry>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>
IMAGE_URI = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/(?P<repository>[^:@]+):(?P<tag>[^@]+)$")


def manifest(name: str) -> str:
    """A Docker image manifest (schema 2) whose config digest depends on the name: distinct images get
    distinct digests, as on a registry."""
    config = hashlib.sha256(name.encode()).hexdigest()
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                                  "digest": f"sha256:{config}"}, "layers": []})


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
    return ecr.put_image(repositoryName=repository, imageManifest=manifest(image_uri), imageTag=tag)["image"]["imageId"]["imageDigest"]
