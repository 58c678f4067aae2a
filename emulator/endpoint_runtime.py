"""What a SageMaker real-time endpoint does with an InvokeEndpoint request, played in the emulator's process.

On AWS each production variant runs the model's inference container: SageMaker downloads ModelDataUrl
(`model.tar.gz`) into /opt/ml/model, the framework container's serving toolkit imports the inference
script from `/opt/ml/model/code` (`SAGEMAKER_PROGRAM`, default `inference.py`; the SDK repacks the code
there, and the platform's training writes it there) and calls model_fn once, then input_fn ->
predict_fn -> output_fn per request. Around the container SageMaker:
- answers the container's 2XX as is, and anything else as a `ModelError` (HTTP 424) carrying the
  original status and the container's message ("Received client error (400) from primary with message
  ..."); refuses requests to an endpoint that is not InService (`ValidationError`);
- writes data capture when the endpoint config enables it: a sampled share of requests, as JSON Lines
  under `<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm-uuid>.jsonl`, each line
  `{"captureData": {"endpointInput"/"endpointOutput": {observedContentType, mode, data, encoding}},
  "eventMetadata": {eventId, inferenceId, inferenceTime}, "eventVersion": "0"}`, encoded CSV/JSON for
  the config's CaptureContentTypeHeader types and BASE64 otherwise, encrypted with its KmsKeyId;
- publishes the variant's invocation metrics to `AWS/SageMaker` (dimensions EndpointName,
  VariantName): Invocations, InvocationsPerInstance, ModelLatency and OverheadLatency (microseconds),
  Invocation4XXErrors, Invocation5XXErrors, InvocationModelErrors (1 or 0 per request).

Here the container is a child process with the model-code Python (emulator/serve_driver.py, `--serve`),
kept alive per endpoint variant so the model loads once, and stopped when the endpoint is deleted or
moves to another config. It is forked from the warm interpreter that has PyTorch imported
(emulator/container.py, emulator/warm_python.py): the same serving driver, inference script, model
directory and environment as a fresh process, without importing torch again per container. The request
path holds the emulator's request lock only while it touches moto's state; it gives it up while the
child works (emulator.serialized.release_while_waiting).
The image is not run (no registry runs here): the strict emulator has checked it exists in ECR.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import queue
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.container import PASSED_VARIABLES, SERVE_DRIVER, models_python
from emulator.container import start as start_process
from emulator.warm_python import Forked
from ops.code_bundle import unpack

log = logging.getLogger(__name__)

NAMESPACE = "AWS/SageMaker"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's real-time payload limit
MODEL_TIMEOUT_SECONDS = 60  # SageMaker waits this long for the container's answer
START_TIMEOUT_SECONDS = 300
MODEL_DIR_ON_AWS = "/opt/ml/model"
DEFAULT_PROGRAM = "inference.py"


class InvocationError(Exception):
    """An InvokeEndpoint failure as SageMaker reports it: error code, HTTP status, message and extra fields."""

    def __init__(self, code: str, status: int, message: str, **fields: Any):
        super().__init__(message)
        self.code, self.status, self.message, self.fields = code, status, message, fields


@dataclass
class Answer:
    status: int  # the container's HTTP status
    body: bytes
    content_type: str
    model_latency_us: int


@dataclass
class ServingProcess:
    """One variant's inference container: the child process and its unpacked model."""

    identity: tuple
    workdir: Path
    program: str
    environment: dict[str, str]
    process: subprocess.Popen | Forked | None = None
    lines: queue.Queue = field(default_factory=queue.Queue)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: bool | None = None
    start_error: str | None = None

    @property
    def model_dir(self) -> Path:
        return self.workdir / "model"

    def start(self) -> None:
        code_dir = self.model_dir / "code"
        env = {k: v for k, v in os.environ.items() if k in PASSED_VARIABLES}
        env.update(self.environment)  # the model's container Environment, as SageMaker passes it
        env.update(
            {
                "PYTHONPATH": str(code_dir),
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
                "SAGEMAKER_PROGRAM": self.program,
            }
        )
        # stderr is the emulator's own (its log), like the container's logs going to CloudWatch Logs.
        self.process = start_process(
            [models_python(), str(SERVE_DRIVER), "--serve", self.program, str(self.model_dir)],
            cwd=code_dir,
            env=env,
            stdin=True,
            merge_stderr=False,
            new_session=False,
        )
        threading.Thread(target=self._read, daemon=True, name=f"serve-{self.process.pid}").start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.lines.put(line)
        self.lines.put(None)  # the process ended

    def _next(self, timeout: float) -> dict[str, Any] | None:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        return json.loads(line) if line is not None else None

    def ask(self, body: bytes, content_type: str, accept: str | None) -> Answer:
        """The container's answer to one request (raises InvocationError when it cannot give one)."""
        with self.lock:  # a container answers one request at a time here
            if self.ready is None:
                started = self._next(START_TIMEOUT_SECONDS) or {"ready": False, "error": "the process ended"}
                self.ready, self.start_error = bool(started.get("ready")), started.get("error")
            if not self.ready:
                raise InvocationError(
                    "ModelError",
                    424,
                    f"Received server error (500) from primary with message "
                    f'"the inference container did not start: {self.start_error}".',
                    OriginalStatusCode=500,
                )
            request = {"body": body.decode("latin-1"), "content_type": content_type, "accept": accept}
            self.process.stdin.write(json.dumps(request) + "\n")  # type: ignore[union-attr]
            self.process.stdin.flush()  # type: ignore[union-attr]
            answer = self._next(MODEL_TIMEOUT_SECONDS)
            if answer is None:
                self.ready, self.start_error = False, "the model did not answer in time and was stopped"
                self.close()
                raise InvocationError(
                    "ModelError",
                    424,
                    "Your invocation timed out while waiting for a response "
                    f"from container primary (after {MODEL_TIMEOUT_SECONDS} s).",
                    OriginalStatusCode=504,
                )
            return Answer(
                answer["status"],
                answer["body"].encode("latin-1"),
                answer["content_type"] or "text/plain",
                int(answer["latency_us"]),
            )

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.stdin.close()  # type: ignore[union-attr]
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


# (account, region, endpoint name) -> {variant name: its container}. Kept here, not on moto's endpoint
# objects: processes cannot be copied into the emulator's snapshots; a restored endpoint starts anew.
_containers: dict[tuple[str, str, str], dict[str, ServingProcess]] = {}
_registry_lock = threading.Lock()


def stop(account: str, region: str, endpoint_name: str) -> None:
    """Stop the containers of an endpoint (deleted, or moved to another config)."""
    with _registry_lock:
        containers = _containers.pop((account, region, endpoint_name), {})
    for container in containers.values():
        container.close()


def stop_all() -> None:
    for key in list(_containers):
        stop(*key)


def running(account: str, region: str, endpoint_name: str) -> dict[str, int]:
    """{variant: pid} of the endpoint's live containers (tests read it)."""
    return {
        name: c.process.pid
        for name, c in _containers.get((account, region, endpoint_name), {}).items()
        if c.process is not None and c.process.poll() is None
    }


def _model_container(sagemaker: Any, variant: Mapping[str, Any]) -> dict[str, Any]:
    model = sagemaker._models.get(variant["ModelName"])
    if model is None:
        raise InvocationError(
            "ModelError",
            424,
            f"Received server error (500) from {variant['VariantName']} with "
            f'message "model {variant["ModelName"]} does not exist".',
            OriginalStatusCode=500,
        )
    return model.primary_container or (model.containers or [{}])[0]


def _identity(config_name: str, variant_name: str, container: Mapping[str, Any]) -> tuple:
    return (
        config_name,
        variant_name,
        container.get("Image"),
        container.get("ModelDataUrl"),
        json.dumps(container.get("Environment") or {}, sort_keys=True),
    )


def _program(environment: Mapping[str, str]) -> str:
    return environment.get("SAGEMAKER_PROGRAM") or DEFAULT_PROGRAM


def _new_container(s3: Any, identity: tuple, container: Mapping[str, Any]) -> ServingProcess:
    """Download and unpack the model artifact (SageMaker's part) and start the serving process."""
    url = container.get("ModelDataUrl") or ""
    environment = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
    workdir = Path(tempfile.mkdtemp(prefix="mlp-endpoint-"))
    serving = ServingProcess(identity, workdir, _program(environment), environment)
    try:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        stored = s3.get_object(bucket, key) if url.startswith("s3://") and bucket in s3.buckets else None
        if stored is None:
            raise ValueError(f"the model data {url} cannot be downloaded")
        unpack(stored.value, serving.model_dir)
        if not (serving.model_dir / "code" / serving.program).is_file():
            raise ValueError(
                f"the model artifact {url} has no code/{serving.program} (the inference script the "
                f"serving toolkit imports from {MODEL_DIR_ON_AWS}/code)"
            )
    except Exception as error:
        serving.ready, serving.start_error = False, str(error)
        return serving
    serving.start()
    return serving


def container_for(sagemaker: Any, s3: Any, endpoint: Any, variant: Mapping[str, Any]) -> ServingProcess:
    """The running container of `variant` (a production variant of the endpoint's current config); the
    containers of an older config of the endpoint are stopped first (UpdateEndpoint replaced them)."""
    container = _model_container(sagemaker, variant)
    identity = _identity(endpoint.endpoint_config_name, variant["VariantName"], container)
    key = (sagemaker.account_id, sagemaker.region_name, endpoint.endpoint_name)
    existing = _containers.get(key, {})
    if any(c.identity[0] != endpoint.endpoint_config_name for c in existing.values()):
        stop(*key)
        existing = {}
    serving = existing.get(variant["VariantName"])
    if serving is None or serving.identity != identity:
        if serving is not None:
            serving.close()
        serving = _new_container(s3, identity, container)
        with _registry_lock:
            _containers.setdefault(key, {})[variant["VariantName"]] = serving
    return serving


def choose_variant(endpoint_name: str, variants: list[Mapping[str, Any]], target: str | None) -> Mapping[str, Any]:
    """The variant that serves a request: the target variant when named, else one drawn by weight."""
    if target:
        for variant in variants:
            if variant["VariantName"] == target:
                return variant
        raise InvocationError("ValidationError", 400, f"Target variant {target} is not part of endpoint {endpoint_name}.")
    if not variants:
        raise InvocationError("ValidationError", 400, f"Endpoint {endpoint_name} has no production variant.")
    weights = [float(v.get("InitialVariantWeight", 1.0) or 0.0) for v in variants]
    return random.choices(variants, weights=weights if sum(weights) > 0 else None)[0]


# --- data capture ---------------------------------------------------------------------------------


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def encode_payload(data: bytes, content_type: str | None, header: Mapping[str, Any] | None) -> tuple[str, str]:
    """(data, encoding) as data capture writes a payload: text for the config's CSV and JSON content
    types, BASE64 for anything else (and for text that is not UTF-8)."""
    header = header or {}
    media = _media(content_type)
    for encoding, listed in (("CSV", header.get("CsvContentTypes")), ("JSON", header.get("JsonContentTypes"))):
        if media and media in {_media(t) for t in listed or []}:
            try:
                return data.decode("utf-8"), encoding
            except UnicodeDecodeError:
                break
    return base64.b64encode(data).decode("ascii"), "BASE64"


def capture_record(
    config: Mapping[str, Any],
    request: bytes,
    request_type: str | None,
    response: bytes,
    response_type: str | None,
    inference_id: str | None,
    at: dt.datetime,
) -> dict[str, Any]:
    """One data-capture line (a dict) of a served request, with the config's capture modes."""
    modes = {option.get("CaptureMode") for option in config.get("CaptureOptions") or []}
    header = config.get("CaptureContentTypeHeader")
    capture: dict[str, Any] = {}
    if modes & {"Input", "InputAndOutput"}:
        data, encoding = encode_payload(request, request_type, header)
        capture["endpointInput"] = {"observedContentType": request_type, "mode": "INPUT", "data": data, "encoding": encoding}
    if modes & {"Output", "InputAndOutput"}:
        data, encoding = encode_payload(response, response_type, header)
        capture["endpointOutput"] = {"observedContentType": response_type, "mode": "OUTPUT", "data": data, "encoding": encoding}
    metadata = {"eventId": str(uuid.uuid4())}
    if inference_id:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"captureData": capture, "eventMetadata": metadata, "eventVersion": "0"}


def capture_key(destination: str, endpoint_name: str, variant_name: str, at: dt.datetime) -> tuple[str, str]:
    """(bucket, key) of a capture object: SageMaker's layout and file naming."""
    bucket, _, prefix = destination.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    name = f"{at:%M-%S}-{at.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
    return bucket, "/".join(part for part in (prefix, endpoint_name, variant_name, f"{at:%Y/%m/%d/%H}", name) if part)


# SageMaker buffers captured records and writes them in files of many lines. Here a file stays open for
# up to this many records or seconds within one hour prefix; it is rewritten with each new line, so
# what was captured is readable at once (on AWS it appears when the file is flushed, minutes later).
CAPTURE_FILE_RECORDS = 100
CAPTURE_FILE_SECONDS = 60
OPEN_CAPTURE_FILES = "_mlp_capture_files"  # on moto's endpoint: {variant: (bucket, key, opened at, lines)}


def write_capture(
    s3: Any, endpoint: Any, config: Mapping[str, Any] | None, variant_name: str, record: Mapping[str, Any], at: dt.datetime
) -> str | None:
    """Add a sampled request's line to the variant's open capture file (a new file when none is open,
    it is full or old, or the hour changed) when the config enables capture; the file's key, or None.
    A capture that cannot be written is logged, never the request's failure (as on AWS)."""
    if not config or not config.get("EnableCapture", True):
        return None
    if random.random() * 100 >= float(config.get("InitialSamplingPercentage", 100)):
        return None
    files = getattr(endpoint, OPEN_CAPTURE_FILES, None)
    if files is None:
        files = {}
        setattr(endpoint, OPEN_CAPTURE_FILES, files)  # on moto's object, so the emulator's snapshots keep it
    bucket, key = capture_key(config["DestinationS3Uri"], endpoint.endpoint_name, variant_name, at)
    lines = b""
    opened = files.get(variant_name)
    if (
        opened
        and opened[0] == bucket
        and opened[1].rsplit("/", 1)[0] == key.rsplit("/", 1)[0]
        and opened[3] < CAPTURE_FILE_RECORDS
        and (at - opened[2]).total_seconds() < CAPTURE_FILE_SECONDS
    ):
        stored = s3.get_object(bucket, opened[1]) if bucket in s3.buckets else None
        if stored is not None:
            key, lines = opened[1], stored.value
    kms = config.get("KmsKeyId")
    try:
        s3.put_object(
            bucket,
            key,
            lines + (json.dumps(record) + "\n").encode(),
            encryption="aws:kms" if kms else None,
            kms_key_id=kms or None,
        )
    except Exception:
        log.exception(
            "data capture of %s/%s could not be written to s3://%s/%s", endpoint.endpoint_name, variant_name, bucket, key
        )
        return None
    files[variant_name] = (bucket, key, opened[2] if lines else at, (opened[3] if lines else 0) + 1)
    return key


# --- metrics --------------------------------------------------------------------------------------


def invocation_metrics(
    endpoint_name: str, variant_name: str, status: int | None, model_latency_us: int | None, overhead_us: int, at: dt.datetime
) -> list[dict[str, Any]]:
    """The AWS/SageMaker data of one request that reached the variant (`status` None: the container gave
    no HTTP answer, e.g. a timeout, counted as a model error)."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint_name}, {"Name": "VariantName", "Value": variant_name}]
    stamp = at.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)  # moto keeps naive UTC

    def datum(name: str, value: float, unit: str) -> dict[str, Any]:
        return {"MetricName": name, "Dimensions": dimensions, "Timestamp": stamp, "Value": float(value), "Unit": unit}

    ok = status is not None and 200 <= status < 300
    data = [
        datum("Invocations", 1, "None"),
        datum("InvocationsPerInstance", 1, "None"),
        datum("Invocation4XXErrors", int(status is not None and 400 <= status < 500), "None"),
        datum("Invocation5XXErrors", int(status is None or status >= 500), "None"),
        datum("InvocationModelErrors", int(not ok), "None"),
        datum("OverheadLatency", overhead_us, "Microseconds"),
    ]
    if model_latency_us is not None:
        data.append(datum("ModelLatency", model_latency_us, "Microseconds"))
    return data


# Not a SageMaker header: the emulator's own, sent only by emulator/loop.send_traffic. The demo and the
# tests play requests at another hour (a drift check's window, a later hour's traffic) without waiting
# for it; capture keys, eventMetadata.inferenceTime and metric timestamps then carry that time.
PLAYED_AT = "X-Mlp-Emulator-Played-At"


def now(headers: Mapping[str, str] | None = None) -> dt.datetime:
    """The request's time: the played time when the emulator's own header names one, else the clock."""
    played = (headers or {}).get(PLAYED_AT)
    if played:
        try:
            at = dt.datetime.fromisoformat(played)
        except ValueError:
            raise InvocationError("ValidationError", 400, f"{PLAYED_AT} is not an ISO 8601 time: {played!r}") from None
        return at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC)


def elapsed_us(since: float) -> int:
    return round((time.perf_counter() - since) * 1e6)


# --- the request ----------------------------------------------------------------------------------

# Statuses in which an endpoint serves requests (it keeps serving its current config while it updates).
SERVING_STATUSES = ("InService", "Updating", "SystemUpdating", "RollingBack")
MAX_INFERENCE_ID = 64


def _model_error(account: str, region: str, endpoint_name: str, variant_name: str, status: int, message: str) -> InvocationError:
    kind = "client" if 400 <= status < 500 else "server"
    group = f"/aws/sagemaker/Endpoints/{endpoint_name}"
    return InvocationError(
        "ModelError",
        424,
        f'Received {kind} error ({status}) from {variant_name} with message "{message}". See '
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={group} "
        f"in account {account} for more information.",
        OriginalStatusCode=status,
        OriginalMessage=message,
        LogStreamArn=f"arn:aws:logs:{region}:{account}:log-group:{group}",
    )


def serve(
    account: str, region: str, endpoint_name: str, body: bytes, headers: Mapping[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """Answer one InvokeEndpoint request as SageMaker does: (HTTP status, headers, body). Runs inside the
    emulator's request (moto's state is read and written under its lock; the lock is given up while the
    container works)."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.s3.models import s3_backends
    from moto.sagemaker.models import sagemaker_backends

    from emulator.serialized import release_while_waiting

    received = time.perf_counter()
    sagemaker = sagemaker_backends[account][region]
    try:
        return _serve(
            sagemaker,
            s3_backends[account]["aws"],
            cloudwatch_backends[account][region],
            endpoint_name,
            body,
            headers,
            received,
            release_while_waiting,
        )
    except InvocationError as error:
        document = {"message": error.message, **error.fields}
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": error.code,
            "status": str(error.status),
        }  # moto reads "status"
        return error.status, headers, json.dumps(document).encode()


def _serve(
    sagemaker: Any,
    s3: Any,
    cloudwatch: Any,
    endpoint_name: str,
    body: bytes,
    headers: Mapping[str, str],
    received: float,
    release_while_waiting: Any,
) -> tuple[int, dict[str, str], bytes]:
    account, region = sagemaker.account_id, sagemaker.region_name
    try:
        status = sagemaker.describe_endpoint(endpoint_name)["EndpointStatus"]  # settles a pending create/update
    except Exception:
        raise InvocationError("ValidationError", 400, f"Endpoint {endpoint_name} of account {account} not found.") from None
    if status not in SERVING_STATUSES:
        raise InvocationError(
            "ValidationError", 400, f"Endpoint {endpoint_name} of account {account} is not in service (EndpointStatus {status})."
        )
    inference_id = headers.get("X-Amzn-SageMaker-Inference-Id")
    if inference_id is not None and not 1 <= len(inference_id) <= MAX_INFERENCE_ID:
        raise InvocationError(
            "ValidationError",
            400,
            f"1 validation error detected: Value at 'inferenceId' failed to "
            f"satisfy constraint: Member must have length between 1 and {MAX_INFERENCE_ID}",
        )
    if len(body) > MAX_PAYLOAD_BYTES:
        raise InvocationError(
            "ValidationError",
            400,
            f"Request payload of {len(body)} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit of real-time inference.",
        )
    endpoint = sagemaker.endpoints[endpoint_name]
    config = sagemaker.endpoint_configs[endpoint.endpoint_config_name]
    variant = choose_variant(endpoint_name, config.production_variants, headers.get("X-Amzn-SageMaker-Target-Variant"))
    variant_name = variant["VariantName"]
    serving = container_for(sagemaker, s3, endpoint, variant)
    content_type = headers.get("Content-Type") or "application/octet-stream"
    at = now(headers)
    try:
        with release_while_waiting():  # the container works without holding moto's lock
            answer = serving.ask(body, content_type, headers.get("Accept"))
    except InvocationError:
        cloudwatch.put_metric_data(
            NAMESPACE, invocation_metrics(endpoint_name, variant_name, None, None, elapsed_us(received), at)
        )
        raise
    overhead = max(0, elapsed_us(received) - answer.model_latency_us)
    cloudwatch.put_metric_data(
        NAMESPACE, invocation_metrics(endpoint_name, variant_name, answer.status, answer.model_latency_us, overhead, at)
    )
    if not 200 <= answer.status < 300:
        raise _model_error(account, region, endpoint_name, variant_name, answer.status, answer.body.decode("utf-8", "replace"))
    capture = config.data_capture_config or {}
    if capture:
        record = capture_record(capture, body, content_type, answer.body, answer.content_type, inference_id, at)
        write_capture(s3, endpoint, capture, variant_name, record, at)
    return 200, {"Content-Type": answer.content_type, "x-Amzn-Invoked-Production-Variant": variant_name}, answer.body
