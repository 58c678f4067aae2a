"""The main job on the embedded emulator: deploy a team stack with real Terraform and drive the ML loop
end to end, printing progress at each step.

    first model:  upload data -> train (operator) -> register -> approve -> deploy
    decay:        clean traffic (no drift) -> drifted traffic, labelled by the team -> drift check -> alarm
                  -> EventBridge -> retrain (duplicate delivery: no second job; labels curated, data pinned
                  and gated) -> training (champion scored on the same holdout) -> register -> approve
                  -> deploy -> the next hour's drift check is under threshold, the alarm returns to OK
    concept:      a day later (past the retrain cooldown): the same inputs, a new label relation, labelled by
                  the team -> the drift check stays under threshold, the quality check breaches -> quality
                  alarm -> retrain on the labels the live model has not seen -> champion/challenger -> deploy
                  -> two hours later the quality check is over the threshold, the alarm returns to OK
    answer:       lineage (which exact model is in production) and a rebuild with the same inputs

Traffic goes through SageMaker's runtime API (InvokeEndpoint): the deployed model's inference code
answers and the endpoint writes its data capture and metrics (emulator/endpoint_runtime.py). What the
emulator cannot do (run Lambda code, deliver EventBridge events, evaluate alarms) is done in this
process with the deployed resources' own configuration; each such step says so. Hours and the next day
are played (emulator.clock, endpoint_runtime.PLAYED_AT): the demo does not wait for them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from contract.handlers import HANDLER_NAMES

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mlp" / "demo"


# What the demo prints about the plan after the apply (benchmarks/emulator_deploy.py splits its steps at these).
PLAN_STARTED = "terraform plan after apply: started alongside the next steps"
PLANNED = "terraform plan after apply: no changes"


class DemoFailed(RuntimeError):
    pass


class Progress:
    def __init__(self) -> None:
        self.number = 0
        self.started = time.perf_counter()

    def step(self, title: str) -> None:
        self.number += 1
        print(f"\n[{self.number:2d}] {title}  (t+{time.perf_counter() - self.started:.0f}s)", flush=True)

    @staticmethod
    def say(text: str) -> None:
        print(f"     {text}", flush=True)

    @staticmethod
    def emulated(text: str) -> None:
        print(f"     (emulator: {text})", flush=True)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailed(message)


def run_demo(config_path: str | None = None, stack: str = "fraud-local") -> int:
    progress = Progress()
    return on_emulator(
        progress, "Starting the embedded AWS emulator (moto server, patched narrowly)", lambda: _run(progress, config_path, stack)
    )


def on_emulator(progress: Progress, title: str, steps: Callable[[], None]) -> int:
    """Run the demo's `steps` against a fresh emulator (environment pointed at it), then stop it: 0, or 1
    with the failed expectation."""
    from emulator.server import Emulator

    progress.step(title)
    emulator = Emulator().start()
    progress.say(f"listening on {emulator.endpoint}")
    saved = dict(os.environ)
    os.environ.update(emulator.client_env())
    try:
        steps()
    except DemoFailed as failure:
        print(f"\nDEMO FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        emulator.stop()
        os.environ.clear()
        os.environ.update(saved)
    print(f"\nDone in {time.perf_counter() - progress.started:.0f}s. The emulator is stopped; its state is gone.")
    return 0


def _run(progress: Progress, config_path: str | None, stack: str) -> None:
    from config.platform import context_for, load_config
    from emulator.loop import LoopDriver
    from emulator.terraform import Terraform
    from ops.lineage import render, trace
    from ops.training_runs import rebuild
    from stacks.app import build_app

    config = load_config(config_path)
    ctx = context_for(config, stack)
    expect(ctx.is_emulator, f"{stack} is not an emulator environment (give its environment an emulator_endpoint)")

    progress.step(f"Synthesizing {stack} (python main.py --stacks {stack})")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    build_app(config, [stack], outdir=str(WORK / "cdktf.out")).synth()
    terraform = Terraform(
        WORK / "cdktf.out" / "stacks" / stack, env={k: os.environ[k] for k in os.environ if k.startswith("AWS_")}
    )

    progress.step("terraform init (offline, provider mirror) and apply")
    started = time.perf_counter()
    terraform.init()
    terraform.apply()
    with ThreadPoolExecutor(1, thread_name_prefix="plan-after-apply") as background:
        # The plan refreshes every resource, mostly waiting on the emulator: it runs alongside the steps
        # that change nothing Terraform manages (outputs, image push, data upload, the first training job)
        # and is joined before the first one that could (the registration the job's end starts).
        plan = background.submit(terraform.plan_changes)
        resources = terraform.run("state", "list").stdout.split()
        progress.say(f"applied {len(resources)} resources in {time.perf_counter() - started:.0f}s")
        for name, value in sorted(terraform.outputs().items()):
            progress.say(f"{name:<28} {value}")
        progress.say(f"{PLAN_STARTED} (joined before the first registration)")
        first_job = _first_model(progress, config, ctx, stack)

        progress.step("terraform plan after apply (run alongside the steps above): joined")
        changes = plan.result()
    expect(changes is None, f"terraform plan after apply wants changes:\n{(changes or '')[-3000:]}")
    progress.say(PLANNED)
    driver = LoopDriver(ctx)
    first_package = _train_register_deploy(progress, driver, first_job, announced=True)

    progress.step("Clean traffic: 400 requests like the training data (InvokeEndpoint), then the drift check")
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    sent = driver.send_traffic(400, drifted=False, when=earlier)
    progress.emulated(
        "the requests are played three hours ago (the emulator's own request header), so the "
        "later hours' checks see only their own traffic"
    )
    progress.say(
        f"the fraud model answered {len(sent)} requests (InferenceId {sent[0]['inference_id']}...: "
        f"p(fraud) {sent[0]['prediction']:.3f}); SageMaker's data capture recorded them"
    )
    clean = driver.run_check("drift_check", now=earlier)
    progress.say(f"max PSI {clean['max_psi']:.3f} over {clean['sample_count']} requests: under the 0.2 threshold")
    expect(clean["max_psi"] < 0.2 and clean["sample_count"] == len(sent), f"clean traffic drifted: {clean}")

    progress.step("The world changes: 400 drifted requests, the team labels them, then the drift check")
    sent = driver.send_traffic(400, drifted=True)
    driver.upload_labels(sent, world="after")
    progress.say(f"{len(sent)} labels uploaded under ground-truth/{ctx.endpoint_name}/ (the changed world's fraud pattern)")
    drifted = driver.run_check("drift_check")
    for feature, psi in sorted(drifted["psi"].items()):
        progress.say(f"{feature:<20} PSI {psi:.3f}  JS distance {drifted['js_distance'][feature]:.3f}")
    expect(drifted["max_psi"] > 0.2, f"drifted traffic was not detected: {drifted}")

    retrain = _alarm_starts_retrain(progress, driver, "drift")

    progress.step("EventBridge delivers the same alarm again (at-least-once): no second job")
    again = driver.redeliver_alarm(ctx.alarm_name("drift"))
    expect(all(not d.result.get("started") for d in again), f"a duplicate event started a job: {again}")
    progress.say(f"retrain: {again[0].result['reason']} (lock held by run {again[0].result.get('locked_by')})")

    _show_data(progress, retrain)
    second_package = _train_register_deploy(progress, driver, retrain["training_job_name"])
    expect(second_package != first_package, "the retrained model was not deployed")
    next_hour = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    _alarm_clears(progress, driver, "drift", "The next hour", next_hour, seed=29)
    third_package = _concept_drift(progress, driver)

    progress.step("Which exact model is in production, and how do I rebuild it?")
    lineage = trace(ctx)
    print("\n".join(f"     {line}" for line in render(lineage, stack).splitlines()))
    expect(lineage.model_package_arn == third_package and lineage.manifest_verified, "lineage does not reach the retrained model")

    progress.step(f"Rebuild (python main.py rebuild {stack} --version {lineage.model_package_version})")
    rebuilt = rebuild(ctx, lineage.model_package_version)
    inputs = rebuilt["inputs"]
    same = (
        inputs["manifest_uri"],
        inputs["manifest_sha256"],
        inputs["image_uri"],
        inputs["hyperparameters"],
        inputs["code"]["sha256"],
        inputs["code"]["version_id"],
    ) == (
        lineage.manifest_uri,
        lineage.manifest_sha256,
        lineage.training_image,
        lineage.hyperparameters,
        lineage.code_sha256,
        lineage.code_version_id,
    )
    expect(same, f"the rebuild's inputs differ from the original's: {inputs}")
    progress.say(
        f"started {rebuilt['training_job_name']} with the original's manifest, image digest, hyperparameters and code bundle"
    )
    job = driver.wait_for_job(rebuilt["training_job_name"])
    expect(job["TrainingJobStatus"] == "Completed", f"the rebuild failed: {job.get('FailureReason')}")
    from common.model_artifact import read_evaluation

    evaluation = read_evaluation(job["ModelArtifacts"]["S3ModelArtifacts"])
    progress.say(f"rebuild's holdout {evaluation['metric']} = {evaluation['value']} (original {lineage.holdout_value})")


def _first_model(progress: Progress, config, ctx, stack: str) -> str:
    """What comes before the first registration: the deployed code checked, no endpoint yet, the team's
    images and data, an operator's first training run and its job's end. (the job's name)"""
    from emulator.loop import LoopDriver
    from main import source_dir_of
    from ops.functions import deployed_code_matches
    from ops.training_runs import train

    driver = LoopDriver(ctx)
    expect(all(deployed_code_matches(ctx, h) for h in HANDLER_NAMES), "a deployed Lambda package differs from the local source")
    progress.say("every deployed Lambda package is byte-identical to the local source's deterministic zip")

    endpoints = [e for e in driver.sagemaker.list_endpoints()["Endpoints"] if e["EndpointName"] == ctx.endpoint_name]
    expect(not endpoints, "an endpoint exists before any model was approved")
    progress.say("no endpoint yet: nothing bills until the first approved model (the deploy handler creates it)")

    progress.step("The team pushes its training and inference images (docker push)")
    progress.emulated("no registry runs: an image manifest is put through ECR PutImage")
    image, digest = driver.push_team_image()
    progress.say(f"{image} ({digest[:19]}...)")

    progress.step("Uploading a training dataset to the versioned curated bucket")
    upload = driver.upload_training_data()
    progress.say(f"{upload['rows']} rows -> {upload['uri']} (VersionId {upload['version_id']})")

    progress.step("First model: a training run started by an operator (python main.py train)")
    first = train(ctx, source_dir_of(config, stack), "first model")
    code = first["inputs"]["code"]
    progress.say(
        f"code bundle {code['sha256'][:16]}... -> {code['uri']} (VersionId {code['version_id']}, commit {code['git_commit']})"
    )
    progress.say(f"image pinned: {first['inputs']['image_uri']}")
    progress.say(f"run {first['run_id']}: job {first['training_job_name']}, manifest {first['inputs']['manifest_uri']}")
    progress.step(f"Training job {first['training_job_name']} runs")
    progress.emulated("the team's train.py runs in a child process under SageMaker's container contract")
    driver.wait_for_job(first["training_job_name"])
    return first["training_job_name"]


def _train_register_deploy(progress: Progress, driver, job_name: str, announced: bool = False) -> str:
    """The job's end (`announced`: its step was printed already), registration, approval and deployment.
    (the deployed package's ARN)"""
    if not announced:
        progress.step(f"Training job {job_name} runs")
        progress.emulated("the team's train.py runs in a child process under SageMaker's container contract")
    produced, deliveries = driver.complete_training(job_name)
    expect(produced["status"] == "Completed", f"training job {job_name} {produced['status']}: {produced['failure_reason']}")
    evaluation = produced["evaluation"]
    progress.say(
        f"holdout {evaluation['metric']} = {evaluation['value']:.4f} on {evaluation['holdout_rows']} rows "
        f"({evaluation['train_rows']} trained, {evaluation['device']}) -> {produced['model_artifact']}"
    )
    registered = next(d.result for d in deliveries if d.handler == "register")
    expect(registered.get("registered"), f"register did not register: {registered}")
    progress.say(
        f"register: {registered['model_package_arn']} ({registered['approval_status']}), baseline {registered['baseline_uri']}"
    )
    decision = registered["decision"]
    if decision["champion"] is None:
        progress.say(
            f"champion/challenger gate: no champion yet; {decision['metric']} {decision['challenger']:.4f}: {decision['reason']}"
        )
    else:
        progress.say(
            f"champion/challenger gate, same holdout of the new data: challenger {decision['metric']} "
            f"{decision['challenger']:.4f}, champion {decision['champion']:.4f}"
        )
        progress.say(f"  -> {decision['status']}: {decision['reason']}")
    expect(registered["approval_status"] != "Rejected", f"the model was rejected: {decision['reason']}")

    progress.step("Approval, then deploy (blue/green with auto-rollback on the team's alarms)")
    if registered["approval_status"] != "Approved":
        progress.say("a reviewer approves the model package (PendingManualApproval -> Approved)")
        deliveries = driver.approve(registered["model_package_arn"])
    else:
        deliveries = driver.package_state_changed(registered["model_package_arn"])
    deployed = next(d.result for d in deliveries if d.handler == "deploy")
    expect(deployed.get("deployed"), f"deploy did not deploy: {deployed}")
    verb = "created on" if deployed.get("created") else "->"
    progress.say(f"deploy: endpoint {deployed['endpoint_name']} {verb} config {deployed['endpoint_config_name']}")
    progress.emulated("the endpoint settles (image in ECR and model data in S3 checked); SageMaker's state change is delivered")
    settled = next(d.result for d in driver.endpoint_state_changed() if d.handler == "deploy")
    expect(settled.get("autoscaling_registered"), f"the endpoint did not come InService: {settled}")
    expect(driver.serves(registered["model_package_arn"]), "the endpoint does not serve the approved package's model")
    progress.say(f"endpoint InService; deploy: autoscaling registered on {settled['endpoint_name']}")
    progress.say("SageMaker: the package is Approved and the endpoint's config serves its model data")
    return registered["model_package_arn"]


def _show_data(progress: Progress, retrain: dict) -> None:
    """What the retrain pinned: the curated label windows and the data gate's verdict (its report)."""
    import json

    import boto3

    progress.step("What the retrain pinned: the team's labels curated, the data policy, the data gate")
    bucket, key = f"{retrain['manifest_uri'][: -len('.json')]}.data-report.json"[5:].split("/", 1)
    report = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    for window in report["curated_windows"]:
        progress.say(
            f"curated {window['key']}: {window['rows']} rows from {window['labels']} labels "
            f"({window['unmatched']} unmatched, {window['conflicting']} conflicting, {window['malformed']} malformed) "
            f"-> {window['status']}"
        )
    for entry in report["selection"]["objects"]:
        progress.say(f"pinned {entry['key']}@{entry['version_id']} ({entry['kind']}, {entry['rows']} rows)")
    for entry in report["selection"]["left_out"]:
        progress.say(f"left out {entry['key']}: {entry['reason']}")
    progress.say(
        f"data gate: {'passed' if report['passed'] else 'REFUSED'} on {report.get('rows')} rows "
        f"({len(report['checks'])} checks; report s3://{bucket}/{key})"
    )


def _alarm_starts_retrain(progress: Progress, driver, kind: str, now: dt.datetime | None = None) -> dict:
    """CloudWatch evaluates the team's alarms (at `now`), the `kind` alarm goes to ALARM, EventBridge
    delivers its state change and the retrain handler starts exactly one run. (the retrain's answer)"""
    progress.step(f"CloudWatch evaluates the alarms; the {kind} alarm's state change goes through EventBridge")
    progress.emulated("alarms evaluated and events routed in-process against the deployed alarms and rules")
    transitions, deliveries = driver.evaluate_alarms(now)
    for transition in transitions:
        progress.say(f"{transition.alarm}: {transition.previous} -> {transition.state} ({transition.reason})")
    expect(driver.alarm_state(kind) == "ALARM", f"the {kind} alarm is {driver.alarm_state(kind)}, not ALARM")
    started_runs = [d.result for d in deliveries if d.handler == "retrain" and d.result.get("started")]
    expect(len(started_runs) == 1, f"expected one retrain, got {[d.result for d in deliveries]}")
    retrain = started_runs[0]
    progress.say(f"retrain: run {retrain['run_id']} started job {retrain['training_job_name']} ({retrain['trigger']})")
    return retrain


def _checks(progress: Progress, driver, at: dt.datetime, labelled: bool) -> tuple[dict, dict | None]:
    """The scheduled checks over the hour before `at`: drift (max PSI against the live model's baseline)
    and, where the team labelled the hour, quality against the deployed quality alarm's threshold."""
    drift = driver.run_check("drift_check", now=at)
    progress.say(f"drift check: max PSI {drift['max_psi']:.3f} over {drift['sample_count']} requests (the live model's baseline)")
    if not labelled:
        return drift, None
    quality = driver.run_check("quality_check", now=at)
    alarm = driver.alarm("quality")
    value = quality["metrics"].get(alarm["MetricName"])
    progress.say(
        f"quality check: {alarm['MetricName']} {value:.3f} on {quality['sample_count']} labelled requests "
        f"(alarm threshold {alarm['Threshold']}); labels refused or unmatched: {quality['malformed_ground_truth']} malformed, "
        f"{quality['duplicate_ground_truth']} duplicate, {quality['conflicting_ground_truth']} conflicting, "
        f"{quality['unmatched_ground_truth']} unmatched"
    )
    return drift, quality


def _alarm_clears(progress: Progress, driver, kind: str, when: str, at: dt.datetime, seed: int, world: str | None = None) -> None:
    """The hour before `at`, after a redeploy: 400 requests like the world the new model learnt (labelled in
    `world` if given); the checks pass, the `kind` alarm returns to OK, the drift alarm is OK, nothing retrains."""
    labelled = ", labelled by the team" if world else ""
    progress.step(f"{when}: 400 more requests of the world the new model learnt{labelled}, then the checks")
    jobs = driver.training_jobs()
    sent = driver.send_traffic(400, drifted=True, when=at, seed=seed)
    if world:
        driver.upload_labels(sent, world=world, when=at)
    _checks(progress, driver, at, labelled=world is not None)
    progress.emulated("the alarms are evaluated at that hour, in-process against the deployed alarms")
    transitions, deliveries = driver.evaluate_alarms(now=at)
    for transition in transitions:
        progress.say(f"{transition.alarm}: {transition.previous} -> {transition.state}")
    cleared = any(t.alarm == driver.ctx.alarm_name(kind) and t.state == "OK" for t in transitions)
    expect(cleared, f"the {kind} alarm did not return to OK: {[(t.alarm, t.state) for t in transitions]}")
    states = {k: driver.alarm_state(k) for k in ("drift", "quality")}
    expect(states == {"drift": "OK", "quality": "OK"}, f"alarms after the redeploy: {states}")
    started = [d for d in deliveries if d.handler == "retrain" and d.result.get("started")]
    expect(not started and driver.training_jobs() == jobs, "a retrain started after the alarm cleared")
    progress.say(f"the {kind} alarm is OK again (drift and quality alarms OK in CloudWatch); no further retrain")


def _concept_drift(progress: Progress, driver) -> str:
    """Concept drift: the inputs keep the live model's distribution, the relation to the label changes.
    Only the quality check sees it: quality alarm -> retrain on the new labels -> quality restored. The
    day is played past the retrain cooldown the last run holds. (the new model's package ARN)"""
    day = driver.after_cooldown()
    progress.step("A day later: the same inputs, a new fraud pattern (concept drift); the team labels the requests")
    progress.emulated(
        f"the day is played ({day:%Y-%m-%d %H:%M} UTC, past the deployed {int(driver.env['COOLDOWN_SECONDS']) // 3600} h "
        "retrain cooldown): requests, labels, checks, alarm evaluation and the handlers they start run at that time"
    )
    sent = driver.send_traffic(400, drifted=True, when=day, seed=41)
    driver.upload_labels(sent, world="later", when=day)
    progress.say(f"{len(sent)} requests like the live model's training data; labels uploaded (fraud now follows the amount)")
    drift, quality = _checks(progress, driver, day, labelled=True)
    alarm = driver.alarm("quality")
    expect(
        not _breaches(driver.alarm("drift-max"), drift["max_psi"]), f"the inputs drifted, this is not a concept drift: {drift}"
    )
    expect(_breaches(alarm, quality["metrics"].get(alarm["MetricName"])), f"the quality check did not breach: {quality}")
    retrain = _alarm_starts_retrain(progress, driver, "quality", now=day)
    expect(driver.alarm_state("drift") == "OK", "the drift alarm left OK: the inputs were not meant to drift")
    progress.say("the drift alarm stayed OK: the inputs did not move, only what they mean (concept drift, not data drift)")
    _show_data(progress, retrain)
    package = _train_register_deploy(progress, driver, retrain["training_job_name"])
    # Two hours on: the check's hour then holds only these labels (the quality check reads the labels filed
    # in the hours its window touches; those of the day's first hour name requests before the window).
    _alarm_clears(progress, driver, "quality", "Two hours later", day + dt.timedelta(hours=2), seed=43, world="later")
    return package


def _breaches(alarm: dict, value: float | None) -> bool:
    """Whether `value` breaches the deployed alarm's threshold by its own comparison."""
    from emulator.alarms import COMPARE

    return value is not None and COMPARE[alarm["ComparisonOperator"]](value, alarm["Threshold"])
