"""Scheduled drift check: live feature distributions of the endpoint against the deployed model's baseline.

Runs on a schedule (or on an explicit `{"window_start", "window_end"}`), counts the captured requests of
the window into the baseline's bins and publishes, per feature, the PSI and the Jensen-Shannon distance
(plus their maximum PSI, the sample count and the malformed-record count) to CloudWatch, where the
team's drift alarm triggers a retrain.

Missing values are drift signals of their own: with samples, each feature's FeatureMissingRate (absent,
null, unparseable or NaN/inf) and its increase over the training rows' rate, their maximum, and
UnscoredFeatures (model inputs that got no PSI: no live value, or none in the training rows) are
published too. A feature 100% null publishes no PSI but a missing-rate increase of up to 1.

An empty window publishes DriftSampleCount=0 (and the malformed count) but no PSI/JS value at all: a
zero would read as "no drift" and keep an alarm OK on no evidence; the empty window and unreadable
capture have alarms of their own on those two counts. Without a deployed-model pointer or its baseline
there is nothing to compare against, so nothing is published.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from common import aws, capture
from common.drift import WindowHistogram
from contract.definitions import model_feature_specs
from contract.environment import LambdaEnvironment

log = logging.getLogger()
log.setLevel(logging.INFO)


def _s3_json(bucket: str, key: str) -> Any | None:
    """A JSON object from S3, or None when the key does not exist."""
    try:
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    with body:
        return json.loads(body.read())


def _deployed_pointer(parameter: str) -> dict[str, Any] | None:
    return aws.optional_json_parameter(parameter)


def _load_baseline(uri: Any) -> dict[str, Any] | None:
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    parsed = urlparse(uri)
    baseline = _s3_json(parsed.netloc, parsed.path.lstrip("/"))
    if not isinstance(baseline, dict) or not isinstance(baseline.get("features"), dict):
        return None
    return baseline


def handler(event: dict, context: Any) -> dict[str, Any]:
    """What Lambda calls (`handler.handler`): the function's environment is read here, once."""
    return handle(event, LambdaEnvironment.from_env())


def handle(event: Any, environment: LambdaEnvironment) -> dict[str, Any]:
    window = capture.window_from_event(event, environment.window_hours)
    bucket = environment.artifact_bucket
    endpoint = environment.endpoint_name
    namespace = environment.metric_namespace
    summary: dict[str, Any] = {"endpoint": endpoint, **window.as_dict()}

    pointer = _deployed_pointer(environment.deployed_model_parameter)
    if pointer is None:
        log.info("no deployed-model pointer; nothing to compare against, no drift published")
        return {**summary, "status": "no_deployed_model"}
    baseline = _load_baseline(pointer.get("baseline_uri"))
    if baseline is None:
        log.info(
            "deployed model %s has no readable baseline (%s); no drift published",
            pointer.get("model_package_arn"),
            pointer.get("baseline_uri"),
        )
        return {**summary, "status": "no_baseline", "baseline_uri": pointer.get("baseline_uri")}

    definitions = _s3_json(bucket, environment.feature_definitions_key)
    if definitions is None:
        raise RuntimeError(f"feature definitions s3://{bucket}/{environment.feature_definitions_key} are missing")
    feature_names = [spec["name"] for spec in model_feature_specs(definitions)]
    if baseline.get("definitions_version") != definitions.get("version"):
        log.warning(
            "baseline was computed for definitions %s, current definitions are %s",
            baseline.get("definitions_version"),
            definitions.get("version"),
        )

    histogram = WindowHistogram(baseline)
    stats = capture.ReadStats()
    for record in capture.iter_capture(bucket, endpoint, window, feature_names, stats):
        for instance in record.instances:
            histogram.add(instance)
    if stats.malformed:
        log.warning("%d malformed capture lines, e.g. %s", stats.malformed, stats.malformed_examples)

    scores = histogram.scores() if histogram.sample_count else {}
    psi = {name: s["psi"] for name, s in scores.items()}
    max_psi = max(psi.values()) if psi else None

    at = window.end
    datum = capture.MetricDimensions(environment.team, environment.environment, endpoint).datum
    data = [
        datum("DriftSampleCount", histogram.sample_count, at, "Count"),
        datum("MalformedCaptureRecords", stats.malformed, at, "Count"),
    ]
    for name, s in scores.items():
        data.append(datum("FeaturePSI", s["psi"], at, extra={"Feature": name}))
        data.append(datum("FeatureJSDistance", s["js_distance"], at, extra={"Feature": name}))
    if max_psi is not None:
        data.append(datum("MaxFeaturePSI", max_psi, at))
    missing = histogram.missing_rates()
    increases = histogram.missing_rate_increases()
    unscored = sorted(set(histogram.features) - set(scores)) if histogram.sample_count else []
    for name, rate in missing.items():
        data.append(datum("FeatureMissingRate", rate, at, extra={"Feature": name}))
        data.append(datum("FeatureMissingRateIncrease", increases[name], at, extra={"Feature": name}))
    if increases:
        data.append(datum("MaxMissingRateIncrease", max(increases.values()), at))
    if histogram.sample_count:
        data.append(datum("UnscoredFeatures", len(unscored), at, "Count"))
    calls = capture.publish(namespace, data)

    result = {
        **summary,
        "status": "ok" if histogram.sample_count else "empty_window",
        "sample_count": histogram.sample_count,
        "malformed": stats.malformed,
        "out_of_window": stats.out_of_window,
        "objects": stats.objects,
        "psi": psi,
        "js_distance": {name: s["js_distance"] for name, s in scores.items()},
        "max_psi": max_psi,
        "missing_rate": missing,
        "max_missing_rate_increase": max(increases.values()) if increases else None,
        "unscored_features": unscored,
        "metrics_published": len(data),
        "put_metric_data_calls": calls,
    }
    log.info("drift check %s", json.dumps({k: v for k, v in result.items() if k not in ("psi", "js_distance", "missing_rate")}))
    return result
