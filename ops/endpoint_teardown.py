"""`python -m ops.endpoint_teardown <endpoint name>`: what `cdktf destroy` runs before it removes a team
stack (the destroy-time provisioner of `serving/teardown`, modules/serving), with the deployer's own
credentials: the deploy handler's endpoint, autoscaling, endpoint configs and models go first, so the
key, role, bucket and alarms they use can go after. Team and environment come from $MLP_TEAM and
$MLP_ENVIRONMENT (set by the provisioner). Idempotent; prints what it removed as one JSON line.
"""

from __future__ import annotations

import json
import os
import sys

from common.endpoint import teardown


def main(argv: list[str]) -> int:
    team, environment = os.environ.get("MLP_TEAM"), os.environ.get("MLP_ENVIRONMENT")
    if len(argv) != 1 or not team or not environment:
        print("usage: MLP_TEAM=<team> MLP_ENVIRONMENT=<env> python -m ops.endpoint_teardown <endpoint name>", file=sys.stderr)
        return 2
    print(json.dumps({"endpoint_teardown": teardown(argv[0], team, environment)}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
