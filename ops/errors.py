"""Errors of the operations CLI (kept apart so main.py can catch them without importing boto3)."""


class LineageError(RuntimeError):
    """The chain endpoint -> model -> package -> job cannot be followed (names what is missing)."""


class BootstrapError(RuntimeError):
    """A fresh account cannot be prepared as asked (wrong account, a missing key...); nothing was changed."""


class DataRefused(RuntimeError):
    """The data gate refused a run's data before any job (the report says why)."""


class PromotionError(RuntimeError):
    """A model cannot be promoted as asked (not Approved, tampered, an image gone...); nothing was copied."""
