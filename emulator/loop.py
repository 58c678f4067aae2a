"""Drive the ML loop of a team stack deployed to the emulator, one AWS event at a time.

Each step does what AWS does between the deployed pieces and nothing more: EventBridge delivers
events to the deployed rules (emulator.eventbridge), CloudWatch evaluates alarms (emulator.alarms),
SageMaker runs the team's training code (the emulator's container step, emulator.training_job, runs in
the emulator when the job is created: this driver waits for the job to end), the endpoint answers
requests with the team's inference code and writes their data capture (emulator.endpoint_runtime), and
a human approves a model package. The handlers themselves are the deployed functions' code and configuration.
Used by the demo (`python main.py demo`) and the loop's integration test.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import boto3

from common.aws import recipe_parameter
from common.model_artifact import read_evaluation
from contract.names import TeamContext
from contract.recipes import TrainingRecipe
from emulator import alarms, clock, endpoint_runtime, eventbridge, traffic
from emulator.iam_check import authorized_invoke
from emulator.images import push_image
from ops.functions import deployed_environment


@dataclass
class LoopDriver:
    ctx: TeamContext

    def __post_init__(self) -> None:
        self.env = deployed_environment(self.ctx, "retrain")
        self.s3 = boto3.client("s3")
        self.sagemaker = boto3.client("sagemaker")

    # --- data -----------------------------------------------------------------------------------
    def definitions(self) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=self.env["ARTIFACT_BUCKET"], Key=self.env["FEATURE_DEFINITIONS_KEY"])["Body"]
        return json.loads(body.read())

    def training_recipe(self) -> TrainingRecipe:
        return recipe_parameter(self.env["TRAINING_RECIPE_PARAMETER"], TrainingRecipe, ssm=boto3.client("ssm"))

    def training_prefix(self) -> tuple[str, str]:
        data = self.training_recipe().training_data
        return data.bucket, data.prefix

    def push_team_image(self) -> tuple[str, str]:
        """What the team does before its first run: `docker push` its training and inference images.
        (training image URI, its digest)"""
        recipe = self.training_recipe()
        push_image(recipe.inference_image_uri)
        return recipe.image_uri, push_image(recipe.image_uri)

    def upload_training_data(self, rows: int = 1500, seed: int = 7) -> dict[str, Any]:
        bucket, prefix = self.training_prefix()
        key = f"{prefix}transactions.csv"
        response = self.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=traffic.training_csv(self.definitions(), rows, seed),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.env["KMS_KEY_ARN"],
        )
        return {"uri": f"s3://{bucket}/{key}", "version_id": response["VersionId"], "rows": rows}

    def send_traffic(self, requests: int, drifted: bool, when: dt.datetime | None = None, seed: int = 11) -> list[dict[str, Any]]:
        """Requests sent to the endpoint through SageMaker's runtime API, one CSV row each with an
        InferenceId (what ground truth is joined on): the deployed model answers, and the endpoint's data
        capture records them as SageMaker does. `when`: the hour the requests are played at (the demo
        cannot wait hours; the emulator stamps capture and metrics with it, endpoint_runtime.PLAYED_AT).
        [{inference_id, row, score ('true' probability), prediction}]"""
        runtime, played = boto3.client("sagemaker-runtime"), {}
        if when is not None:  # one second apart, the last a second before `when`
            runtime.meta.events.register(
                "before-sign.sagemaker-runtime.InvokeEndpoint",
                lambda request, **_: request.headers.__setitem__(endpoint_runtime.PLAYED_AT, played["at"]),
            )
        batch = f"{seed}-" + dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        sent = []
        for index, request in enumerate(traffic.live_requests(self.definitions(), requests, drifted, seed)):
            inference_id = f"{batch}-{index:05d}"
            if when is not None:
                played["at"] = (when - dt.timedelta(seconds=requests - index)).astimezone(dt.UTC).isoformat()
            response = runtime.invoke_endpoint(
                EndpointName=self.ctx.endpoint_name,
                Body=request["body"].encode(),
                ContentType="text/csv",
                Accept="application/json",
                InferenceId=inference_id,
            )
            prediction = json.loads(response["Body"].read())["predictions"][0]
            sent.append(
                {"inference_id": inference_id, "row": request["row"], "score": request["score"], "prediction": prediction}
            )
        return sent

    def upload_labels(self, sent: list[dict[str, Any]], world: str, when: dt.datetime | None = None) -> int:
        """The team's ground truth for requests it sent, filed under the hour it uploads them (CONTRACTS.md)."""
        when = when or dt.datetime.now(dt.UTC)
        self.s3.put_object(
            Bucket=self.env["ARTIFACT_BUCKET"],
            Key=traffic.ground_truth_key(self.ctx.endpoint_name, when),
            Body=traffic.label_lines(self.definitions(), sent, world),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.env["KMS_KEY_ARN"],
        )
        return len(sent)

    # --- the loop's events ----------------------------------------------------------------------
    def retrain_by_hand(self, reason: str) -> Any:
        return authorized_invoke(self.ctx, "retrain", {"source": "mlp.manual", "reason": reason, "requested_by": "demo"})

    def wait_for_job(self, job_name: str, timeout: float = 900) -> dict[str, Any]:
        """DescribeTrainingJob until the job has ended (the team's code runs in the emulator meanwhile)."""
        deadline, pause = time.monotonic() + timeout, 0.1
        while True:
            job = self.sagemaker.describe_training_job(TrainingJobName=job_name)
            if job["TrainingJobStatus"] not in ("InProgress", "Stopping"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"training job {job_name} still {job['TrainingJobStatus']} after {timeout} s")
            # A job here ends in seconds: a fixed 1 s poll lost up to a second per job; back off to 1 s.
            time.sleep(pause)
            pause = min(pause * 1.5, 1.0)

    def complete_training(self, job_name: str) -> tuple[dict[str, Any], list[eventbridge.Delivery]]:
        """Wait for the job's end, then SageMaker's `Training Job State Change` event. (what ended: status,
        failure reason, model artifact and its evaluation.json when Completed; the deliveries)"""
        job = self.wait_for_job(job_name)
        status = job["TrainingJobStatus"]
        produced: dict[str, Any] = {
            "status": status,
            "failure_reason": job.get("FailureReason"),
            "model_artifact": job["ModelArtifacts"]["S3ModelArtifacts"],
        }
        if status == "Completed":
            produced["evaluation"] = read_evaluation(produced["model_artifact"])
        event = eventbridge.envelope(
            "aws.sagemaker",
            "SageMaker Training Job State Change",
            {
                "TrainingJobName": job_name,
                "TrainingJobArn": job["TrainingJobArn"],
                "TrainingJobStatus": status,
                "ModelArtifacts": job["ModelArtifacts"],
            },
            self.ctx,
            [job["TrainingJobArn"]],
        )
        return produced, eventbridge.deliver(self.ctx, event)

    def approve(self, package_arn: str) -> list[eventbridge.Delivery]:
        """A reviewer approves the package; SageMaker then emits `Model Package State Change`."""
        package = self.sagemaker.describe_model_package(ModelPackageName=package_arn)
        if package["ModelApprovalStatus"] != "Approved":
            self.sagemaker.update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus="Approved")
        return self.package_state_changed(package_arn)

    def package_state_changed(self, package_arn: str) -> list[eventbridge.Delivery]:
        package = self.sagemaker.describe_model_package(ModelPackageName=package_arn)
        event = eventbridge.envelope(
            "aws.sagemaker",
            "SageMaker Model Package State Change",
            {
                "ModelPackageGroupName": package["ModelPackageGroupName"],
                "ModelPackageArn": package_arn,
                "ModelPackageVersion": package["ModelPackageVersion"],
                "ModelApprovalStatus": package["ModelApprovalStatus"],
            },
            self.ctx,
            [package_arn],
        )
        return eventbridge.deliver(self.ctx, event)

    def endpoint_state_changed(self) -> list[eventbridge.Delivery]:
        """SageMaker's `Endpoint State Change` once the endpoint the deploy handler created or updated has
        settled (the emulator settles it on the next Describe): IN_SERVICE, FAILED..."""
        endpoint = self.sagemaker.describe_endpoint(EndpointName=self.ctx.endpoint_name)
        status = {"InService": "IN_SERVICE", "Failed": "FAILED"}.get(
            endpoint["EndpointStatus"], endpoint["EndpointStatus"].upper()
        )
        event = eventbridge.envelope(
            "aws.sagemaker",
            "SageMaker Endpoint State Change",
            {
                "EndpointName": endpoint["EndpointName"],
                "EndpointArn": endpoint["EndpointArn"],
                "EndpointConfigName": endpoint["EndpointConfigName"],
                "EndpointStatus": status,
            },
            self.ctx,
            [endpoint["EndpointArn"]],
        )
        return eventbridge.deliver(self.ctx, event)

    def run_check(
        self, handler: str, window_hours: float = 1.0, now: dt.datetime | None = None, since: dt.datetime | None = None
    ) -> Any:
        """The check over the `window_hours` before `now` (or from `since`), as its schedule would run it."""
        played = now
        now = now or dt.datetime.now(dt.UTC)
        window = {
            "window_start": (since or now - dt.timedelta(hours=window_hours)).isoformat(timespec="seconds"),
            "window_end": (now + dt.timedelta(minutes=1)).isoformat(timespec="seconds"),
        }
        with clock.playing(played):
            return authorized_invoke(self.ctx, handler, window)

    def evaluate_alarms(self, now: dt.datetime | None = None) -> tuple[list[alarms.Transition], list[eventbridge.Delivery]]:
        """CloudWatch's evaluation (at `now`, default the present), then EventBridge's delivery of each
        resulting state change, handled at that time too (emulator.clock)."""
        transitions = alarms.evaluate(self.ctx, now)
        deliveries = []
        for transition in transitions:
            event = eventbridge.envelope(
                "aws.cloudwatch",
                "CloudWatch Alarm State Change",
                transition.event_detail(self.ctx),
                self.ctx,
                [self.ctx.arn("cloudwatch", f"alarm:{transition.alarm}")],
                at=now,
            )
            with clock.playing(now):
                deliveries += eventbridge.deliver(self.ctx, event)
        return transitions, deliveries

    def alarm(self, kind: str) -> dict[str, Any]:
        """The team's `kind` alarm as CloudWatch holds it (DescribeAlarms; metric or composite)."""
        name = self.ctx.alarm_name(kind)
        found = boto3.client("cloudwatch").describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm", "MetricAlarm"])
        [alarm] = found["MetricAlarms"] + found["CompositeAlarms"]
        return alarm

    def alarm_state(self, kind: str) -> str:
        return self.alarm(kind)["StateValue"]

    def serves(self, package_arn: str) -> bool:
        """Whether the endpoint, as SageMaker describes it, serves the package's model data and the package is
        Approved (DescribeEndpoint -> endpoint config -> model, against DescribeModelPackage)."""
        endpoint = self.sagemaker.describe_endpoint(EndpointName=self.ctx.endpoint_name)
        config = self.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        model = self.sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        package = self.sagemaker.describe_model_package(ModelPackageName=package_arn)
        packaged = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        return package["ModelApprovalStatus"] == "Approved" and model["PrimaryContainer"]["ModelDataUrl"] == packaged

    def after_cooldown(self) -> dt.datetime:
        """An hour past the deployed retrain cooldown from now (COOLDOWN_SECONDS): when the next alarm may
        start a retrain again, the lock of the run just registered having run out."""
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(self.env["COOLDOWN_SECONDS"]), hours=1)

    def training_jobs(self) -> set[str]:
        return {j["TrainingJobName"] for j in self.sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]}

    def redeliver_alarm(self, alarm_name: str) -> list[eventbridge.Delivery]:
        """EventBridge delivers at least once: the same ALARM event again."""
        detail = alarms.Transition(alarm_name, "OK", "ALARM", None, "redelivery").event_detail(self.ctx)
        event = eventbridge.envelope(
            "aws.cloudwatch",
            "CloudWatch Alarm State Change",
            detail,
            self.ctx,
            [self.ctx.arn("cloudwatch", f"alarm:{alarm_name}")],
        )
        return eventbridge.deliver(self.ctx, event)
