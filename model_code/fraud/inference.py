"""Fraud team inference entry point: SageMaker's model_fn / input_fn / predict_fn / output_fn.

Answers the probability that each transaction is fraud.
"""

from __future__ import annotations

from model import build_network

from modelkit.serving import make_handlers

_handlers = make_handlers(build_network)
model_fn = _handlers["model_fn"]
input_fn = _handlers["input_fn"]
predict_fn = _handlers["predict_fn"]
output_fn = _handlers["output_fn"]
