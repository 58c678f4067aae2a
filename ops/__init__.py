"""Operating a deployed team stack from the command line: lineage, rebuild, invoking handlers.

These run against AWS, or the emulator when AWS_ENDPOINT_URL is set, and reuse the handlers' own
`common` and `contract` packages so the CLI and the Lambdas cannot disagree on manifests, runs or
training jobs.
"""
