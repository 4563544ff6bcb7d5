"""Images for the local world: what `docker push` hands ECR, without a registry or a build."""

from __future__ import annotations

import hashlib
import json


def image_manifest(seed: str) -> str:
    """A Docker v2 image manifest (JSON) whose config and single layer are derived from `seed`.

    moto makes an image's digest from its layer digests, so a different seed gives a different image digest.
    """
    layer = "sha256:" + hashlib.sha256(seed.encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 100, "digest": layer},
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1000, "digest": layer}
            ],
        }
    )
