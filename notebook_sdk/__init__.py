"""The SageMaker Python SDK where a data scientist reaches for it: a notebook launches a platform run and
watches it with the SDK. Runs in its own virtualenv (`.venv-sdk`, requirements-sdk.txt); nothing of the
platform (Lambdas, synth, CLI) imports this package. See notebook_sdk/runs.py."""
