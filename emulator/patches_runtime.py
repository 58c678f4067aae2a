"""Patches that make a deployed endpoint answer with the team's own inference code, as SageMaker does;
see emulator/patches.py for the rules every patch follows. Tests: tests/integration/test_runtime_patches.py
(each fails against unpatched moto 5.2.5, as noted per test) and tests/integration/test_loop.py (the
fraud reference model served). Written against moto 5.2.5.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Callable
from typing import Any


def sagemaker_runtime_invoke_endpoint_runs_the_model() -> None:
    """moto: InvokeEndpoint answers canned data ("body", content type "content_type", or results queued
    through /moto-api/static/sagemaker/endpoint-results) for any endpoint name, existing or not: no model
    runs, no data capture is written, no AWS/SageMaker metric is published.

    Patched: the endpoint's current config and model are read from moto's SageMaker state and the
    request is answered by the model's inference script from its artifact (emulator.endpoint_runtime:
    one long-lived child process per variant), with SageMaker's errors (ValidationError for a missing or
    not-InService endpoint, ModelError with the script's message and original status), its data capture
    (config's destination, sampling, modes, encodings and KMS key) and its invocation metrics. The
    request body is taken raw (moto decodes it as UTF-8, which a binary payload would fail). The emulator's
    own header endpoint_runtime.PLAYED_AT (sent only by emulator/loop.py) plays a request at another hour."""
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    from emulator import endpoint_runtime

    def invoke_endpoint(self: SageMakerRuntimeResponse):
        name = urllib.parse.unquote(self.path.split("/")[2])
        body = self.raw_body if isinstance(self.raw_body, bytes) else (self.raw_body or "").encode("utf-8")
        headers = {
            key: self.headers.get(key)
            for key in (
                "Content-Type",
                "Accept",
                "X-Amzn-SageMaker-Inference-Id",
                "X-Amzn-SageMaker-Target-Variant",
                endpoint_runtime.PLAYED_AT,
            )
            if self.headers.get(key)
        }
        return endpoint_runtime.serve(self.current_account, self.region, name, body, headers)

    SageMakerRuntimeResponse.use_raw_body = True
    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint


def sagemaker_endpoint_containers_stop_with_the_endpoint() -> None:
    """moto: DeleteEndpoint and UpdateEndpoint (emulator.patches_loop, patches_strict) only change moto's
    records; they know nothing of the inference containers the emulator runs. Patched: after either, the
    endpoint's containers stop (an updated endpoint starts the new config's at its next request), as
    SageMaker stops the instances of a deleted endpoint and replaces those of an updated one."""
    from moto.sagemaker.responses import SageMakerResponse

    from emulator import endpoint_runtime

    def stopping(original: Callable[..., Any]) -> Callable[..., Any]:
        def respond(self: SageMakerResponse):
            result = original(self)
            backend = self.sagemaker_backend
            endpoint_runtime.stop(backend.account_id, backend.region_name, self._get_param("EndpointName"))
            return result

        respond._mlp_patch = True  # emulator.patches_loop checks moto still lacks its own UpdateEndpoint
        return respond

    SageMakerResponse.delete_endpoint = stopping(SageMakerResponse.delete_endpoint)
    SageMakerResponse.update_endpoint = stopping(SageMakerResponse.update_endpoint)


def percentile(values: list[float], statistic: str) -> float | None:
    """`pNN` of the values, nearest rank (CloudWatch's percentiles over raw values)."""
    if not values:
        return None
    share = float(statistic[1:]) / 100
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def cloudwatch_extended_statistics() -> None:
    """moto: GetMetricStatistics ignores ExtendedStatistics (its datapoints carry no percentile), so an
    alarm on a percentile (the golden-signal `latency-p99`, ModelLatency p99) can never be evaluated.
    Patched: each datapoint gets ExtendedStatistics {pNN: value} computed from the period's raw values
    (nearest rank); statistics sets (StatisticValues) give none, as CloudWatch gives no percentile for them."""
    from moto.cloudwatch.exceptions import InvalidParameterCombination
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    def get_metric_statistics(self: CloudWatchResponse) -> ActionResult:
        statistics = self._get_param("Statistics", [])
        extended = self._get_param("ExtendedStatistics", [])
        if not statistics and not extended:
            raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
        metric_name = self._get_param("MetricName")
        datapoints = self.cloudwatch_backend.get_metric_statistics(
            self._get_param("Namespace"),
            metric_name,
            self._get_param("StartTime"),
            self._get_param("EndTime"),
            self._get_int_param("Period"),
            statistics,
            unit=self._get_param("Unit"),
            dimensions=self._get_param("Dimensions", []),
        )
        for point in datapoints:
            computed = {name: percentile(point.metric_single_values_list, name) for name in extended}
            point.extended_statistics = {name: value for name, value in computed.items() if value is not None} or None
        return ActionResult({"Label": metric_name, "Datapoints": datapoints})

    CloudWatchResponse.get_metric_statistics = get_metric_statistics


PATCHES: list[Callable[[], None]] = [
    sagemaker_runtime_invoke_endpoint_runs_the_model,
    sagemaker_endpoint_containers_stop_with_the_endpoint,
    cloudwatch_extended_statistics,
]
