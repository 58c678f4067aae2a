"""The platform's CloudWatch metrics (docs/CONTRACTS.md, "Metrics"): namespace, dimensions and names.
Standard library only."""

from __future__ import annotations

NAMESPACE_ROOT = "MLPlatform"  # a team's namespace is MLPlatform/<prefix> (contract.names.TeamContext)

# Dimensions on every platform metric; per-feature metrics add FEATURE.
TEAM, ENVIRONMENT, ENDPOINT, FEATURE = "Team", "Environment", "Endpoint", "Feature"

# Drift (per feature, then per endpoint).
FEATURE_PSI = "FeaturePSI"
FEATURE_JS_DISTANCE = "FeatureJSDistance"
FEATURE_MISSING_RATE = "FeatureMissingRate"
FEATURE_MISSING_RATE_INCREASE = "FeatureMissingRateIncrease"
MAX_FEATURE_PSI = "MaxFeaturePSI"
MAX_MISSING_RATE_INCREASE = "MaxMissingRateIncrease"
UNSCORED_FEATURES = "UnscoredFeatures"
DRIFT_SAMPLE_COUNT = "DriftSampleCount"
MALFORMED_CAPTURE_RECORDS = "MalformedCaptureRecords"
# Quality.
QUALITY_SAMPLE_COUNT = "QualitySampleCount"
UNMATCHED_GROUND_TRUTH = "UnmatchedGroundTruth"
BINARY_QUALITY = ("Accuracy", "Precision", "Recall", "F1", "AUC")
REGRESSION_QUALITY = ("MAE", "RMSE", "R2")
