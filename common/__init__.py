"""The handlers' runtime library (stdlib + boto3); zipped into each handler's package as `common`,
and imported under the same name by the CLI (ops/), the emulator and the tests."""
