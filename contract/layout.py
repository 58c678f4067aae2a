"""Where things are: the artifacts bucket's keys and prefixes, and the endpoint's one variant
(docs/CONTRACTS.md, "Artifacts bucket layout"). Standard library only."""

from __future__ import annotations

DEFINITIONS_KEY = "features/definitions.json"  # the team's feature definitions, written by the stack
LAMBDA_CODE_PREFIX = "lambda-code/"  # lambda-code/<handler>/<sha256 of the zip>.zip, written by the deployer only
MANIFESTS_PREFIX = "manifests/"  # manifests/<run_id>.json
CODE_PREFIX = "code/"  # code/<sha256>/sourcedir.tar.gz
MODELS_PREFIX = "models/"  # models/<run_id>/ (training output)
CHECKPOINTS_PREFIX = "checkpoints/"  # checkpoints/<run_id>/ (spot training)
BASELINES_PREFIX = "baselines/"  # baselines/<run_id>.json
EVALUATIONS_PREFIX = "evaluations/"  # evaluations/<run_id>.json (a model package's ModelMetrics)
DATA_CAPTURE_PREFIX = "data-capture/"  # data-capture/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl
GROUND_TRUTH_PREFIX = "ground-truth/"  # ground-truth/<endpoint>/yyyy/mm/dd/hh/*.jsonl
TRAINING_DATA_PREFIX = "training/"  # in the curated bucket, unless the recipe names another
LABELLED_DIR = "labelled/"  # <training prefix>labelled/yyyy/mm/dd/hh.csv: curated windows of labels joined with capture

VARIANT = "primary"  # the endpoint's one production variant (blue/green swaps whole fleets under it)
