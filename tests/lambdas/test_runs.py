"""The runs table: the retrain lock with its cooldown, and conditional run status transitions."""

from __future__ import annotations

from common import runs
from tests.lambdas.mlp_aws import TABLE, aws_env, run_inputs  # noqa: F401  (fixture)


def test_lock_is_exclusive_until_the_cooldown_ends(aws_env):
    assert runs.acquire_lock(TABLE, "r1", "alarm:x", 600, now=1_000)
    assert not runs.acquire_lock(TABLE, "r2", "alarm:x", 600, now=1_001)
    assert not runs.acquire_lock(TABLE, "r2", "alarm:x", 600, now=1_600)  # expires_at is not < now yet
    lock = runs.get_lock(TABLE)
    assert lock == {
        "pk": "LOCK",
        "run_id": "r1",
        "trigger": "alarm:x",
        "acquired_at": 1_000,
        "expires_at": 1_600,
        "phase": "starting",
    }
    assert runs.acquire_lock(TABLE, "r2", "schedule", 600, now=1_601)
    assert runs.get_lock(TABLE)["run_id"] == "r2"


def test_extend_only_by_the_holder(aws_env):
    assert runs.acquire_lock(TABLE, "r1", "manual", 600, now=1_000)
    assert not runs.extend_lock(TABLE, "r2", 99_999, runs.PHASE_TRAINING)
    assert runs.get_lock(TABLE)["expires_at"] == 1_600
    assert runs.extend_lock(TABLE, "r1", 99_999, runs.PHASE_TRAINING)
    assert runs.get_lock(TABLE)["expires_at"] == 99_999 and runs.get_lock(TABLE)["phase"] == "training"
    assert not runs.acquire_lock(TABLE, "r2", "manual", 600, now=50_000)  # held for the job's life, not a lease
    assert runs.release_lock(TABLE, "r1") and not runs.extend_lock(TABLE, "r1", 1, runs.PHASE_COOLDOWN)


def test_release_only_by_the_holder(aws_env):
    assert runs.acquire_lock(TABLE, "r1", "manual", 600, now=1_000)
    assert not runs.release_lock(TABLE, "other")
    assert runs.get_lock(TABLE)["run_id"] == "r1"
    assert runs.release_lock(TABLE, "r1")
    assert runs.get_lock(TABLE) is None
    assert not runs.release_lock(TABLE, "r1")  # already gone: a duplicate failure event is harmless
    assert runs.acquire_lock(TABLE, "r2", "manual", 600, now=1_001)


def test_run_record_round_trip_and_no_overwrite(aws_env):
    record = runs.put_run(
        TABLE,
        "r1",
        "Training",
        run_inputs(training_job_name="job", hyperparameters={"epochs": "10"}, object_count=3),
        baseline_uri=None,
    )
    assert "baseline_uri" not in record
    stored = runs.get_run(TABLE, "r1")
    assert stored["status"] == "Training" and stored["hyperparameters"] == {"epochs": "10"}
    assert stored["object_count"] == 3 and stored["pk"] == "RUN#r1"
    try:
        runs.put_run(TABLE, "r1", "Training", run_inputs())
    except Exception as error:
        assert "ConditionalCheckFailed" in str(error)
    else:
        raise AssertionError("put_run overwrote an existing run")
    assert runs.get_run(TABLE, "missing") is None


def test_status_update_applies_once(aws_env):
    runs.put_run(TABLE, "r1", "Training", run_inputs())
    assert runs.update_run_status(TABLE, "r1", "Training", "Registered", model_package_arn="arn:pkg/1")
    assert not runs.update_run_status(TABLE, "r1", "Training", "Registered", model_package_arn="arn:pkg/2")
    run = runs.get_run(TABLE, "r1")
    assert run["status"] == "Registered" and run["model_package_arn"] == "arn:pkg/1"
    assert not runs.update_run_status(TABLE, "missing", "Training", "Failed")
    assert runs.get_run(TABLE, "missing") is None
