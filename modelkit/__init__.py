"""The platform's code inside a team's training and inference containers, shipped in every code bundle.

A team's entry points (model_code/<team>/train.py, inference.py) import this package for what must be
the same for every team and on both sides of the model: SageMaker's container layout (`container`), the
data the run was pinned to (`data`), the one feature transform of training and serving (`transform`),
the training loop with spot checkpoints (`training`) and the inference handlers (`serving`). Feature
definitions are parsed by `common.features`, the module the Lambdas use, bundled beside this package.

`container`, `data` and `transform` need the standard library (plus numpy in `transform`; boto3 only
when a manifest channel is read); `training` and `serving` need PyTorch and scikit-learn.
"""
