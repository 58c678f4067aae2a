"""What the stacks, the Lambda handlers, the CLI and the emulator agree on (docs/CONTRACTS.md).

Standard library only: zipped into every Lambda beside `common/` and imported under this same name
everywhere, so a name, a key or a rule is written once.
"""
