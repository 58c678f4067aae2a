"""The runs table (`prefix-runs`, hash key `pk`): the retrain lock and one record per training run.

Every write that a duplicate or concurrent event could repeat is conditional, so EventBridge's
at-least-once delivery never starts two jobs in one cooldown or applies a status change twice.

Every function takes the table's name first (RUNS_TABLE of the function's environment, read by the
handler at its edge). The lock lives as long as the run it guards (docs/CONTRACTS.md, "Runs table"): a short lease while the
retrain handler starts the job (a crashed handler's lease simply runs out), then the job's longest
possible life (max runtime or spot wait, whichever is longer), then, once the job has ended and its
model is registered, the cooldown counted from that end. A failed or stopped job releases it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from common import aws
from contract.runs import RunInputs

LOCK_PK = "LOCK"
RUN_PREFIX = "RUN#"
# Run statuses: a run is in flight while Starting (record written, job being created) or Training.
STARTING, TRAINING, REGISTERED, FAILED = "Starting", "Training", "Registered", "Failed"
IN_FLIGHT = (STARTING, TRAINING)
# Lock phases (the `phase` attribute of the lock item).
PHASE_STARTING, PHASE_TRAINING, PHASE_COOLDOWN = "starting", "training", "cooldown"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def run_pk(run_id: str) -> str:
    return f"{RUN_PREFIX}{run_id}"


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def _plain(value: Any) -> Any:
    # DynamoDB numbers come back as Decimal; callers want ints/floats (and JSON-serialisable records).
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


# --------------------------------------------------------------------------------------------------
# Lock
# --------------------------------------------------------------------------------------------------


def acquire_lock(table: str, run_id: str, trigger: str, lease_seconds: int, now: float) -> bool:
    """Take the retrain lock for `run_id` unless another run holds it and its expiry has not passed.

    `now` is epoch seconds; the lock is a lease of `lease_seconds` (phase "starting") until
    `extend_lock` moves it on. Returns False (and writes nothing) when another run holds the lock.
    """
    now_s = int(now)
    try:
        aws.client("dynamodb").put_item(
            TableName=table,
            Item=_to_item(
                {
                    "pk": LOCK_PK,
                    "run_id": run_id,
                    "trigger": trigger,
                    "acquired_at": now_s,
                    "expires_at": now_s + int(lease_seconds),
                    "phase": PHASE_STARTING,
                }
            ),
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
            ExpressionAttributeValues={":now": {"N": str(now_s)}},
        )
    except ClientError as error:
        if _condition_failed(error):
            # The SDK retries a write whose response was lost; the retry then fails its condition
            # against our own lock. The lock is ours when it holds our run id.
            return (get_lock(table) or {}).get("run_id") == run_id
        raise
    return True


def extend_lock(table: str, run_id: str, expires_at: float, phase: str) -> bool:
    """Move the lock held by `run_id` to a new expiry and phase; False (nothing written) when another
    run holds it or it is gone."""
    try:
        aws.client("dynamodb").update_item(
            TableName=table,
            Key={"pk": {"S": LOCK_PK}},
            UpdateExpression="SET expires_at = :e, phase = :p",
            ConditionExpression="run_id = :run_id",
            ExpressionAttributeValues={":e": {"N": str(int(expires_at))}, ":p": {"S": phase}, ":run_id": {"S": run_id}},
        )
    except ClientError as error:
        if _condition_failed(error):
            return False
        raise
    return True


def release_lock(table: str, run_id: str) -> bool:
    """Delete the lock only if `run_id` still holds it; False when it is gone or held by another run."""
    try:
        aws.client("dynamodb").delete_item(
            TableName=table,
            Key={"pk": {"S": LOCK_PK}},
            ConditionExpression="run_id = :run_id",
            ExpressionAttributeValues={":run_id": {"S": run_id}},
        )
    except ClientError as error:
        if _condition_failed(error):
            return False
        raise
    return True


def get_lock(table: str) -> dict[str, Any] | None:
    response = aws.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": LOCK_PK}}, ConsistentRead=True)
    item = response.get("Item")
    return _from_item(item) if item else None


# --------------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------------


def put_run(table: str, run_id: str, status: str, inputs: RunInputs, **attrs: Any) -> dict[str, Any]:
    """Create the run record (its inputs, plus `attrs` such as training_job_arn or rebuild_of); refuses to
    overwrite an existing run (run ids are unique)."""
    return _create_run(table, run_id, status, {**inputs.to_record(), **attrs})


def put_refused_run(table: str, run_id: str, **attrs: Any) -> dict[str, Any]:
    """Record a run refused before any job (the data gate): status Failed, no pinned inputs (no job name,
    images or code were committed to), `attrs` say why (failure_reason, data_report_uri, ...)."""
    return _create_run(table, run_id, FAILED, attrs)


def _create_run(table: str, run_id: str, status: str, attrs: dict[str, Any]) -> dict[str, Any]:
    now = _now_iso()
    record = {**attrs, "pk": run_pk(run_id), "run_id": run_id, "status": status, "created_at": now, "updated_at": now}
    aws.client("dynamodb").put_item(
        TableName=table,
        Item=_to_item(record),
        ConditionExpression="attribute_not_exists(pk)",
    )
    return {k: v for k, v in record.items() if v is not None}


def get_run(table: str, run_id: str) -> dict[str, Any] | None:
    response = aws.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": run_pk(run_id)}}, ConsistentRead=True)
    item = response.get("Item")
    return _from_item(item) if item else None


def update_run_status(table: str, run_id: str, expected_status: str, new_status: str, **attrs: Any) -> bool:
    """Move a run from `expected_status` to `new_status` (setting `attrs` too).

    Returns False, changing nothing, when the run is missing or not in `expected_status` — which is
    what a duplicate event sees after the first delivery has applied the change.
    """
    values = {**{k: v for k, v in attrs.items() if v is not None}, "status": new_status, "updated_at": _now_iso()}
    names = {f"#a{i}": key for i, key in enumerate(values)}
    expression_values = {f":v{i}": _serializer.serialize(value) for i, value in enumerate(values.values())}
    expression_values[":expected"] = {"S": expected_status}
    names["#status"] = "status"
    assignments = ", ".join(f"#a{i} = :v{i}" for i in range(len(values)))
    try:
        aws.client("dynamodb").update_item(
            TableName=table,
            Key={"pk": {"S": run_pk(run_id)}},
            UpdateExpression=f"SET {assignments}",
            ConditionExpression="attribute_exists(pk) AND #status = :expected",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=expression_values,
        )
    except ClientError as error:
        if _condition_failed(error):
            return False
        raise
    return True
