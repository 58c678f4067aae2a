"""Narrow moto patches for Lambda function resources; see emulator/patches.py for the rules every patch
follows. Written against moto 5.2.5."""
from __future__ import annotations

from collections.abc import Callable

KEPT = ("DeadLetterConfig", "LoggingConfig")


def lambda_keeps_dead_letter_and_logging_config() -> None:
    """moto: CreateFunction / UpdateFunctionConfiguration drop DeadLetterConfig and LoggingConfig, so
    GetFunction omits them and `terraform plan` after apply always wants an in-place update of every
    function. Patched: both are kept as requested and returned by GetFunction(Configuration)."""
    from moto.awslambda.models import LambdaFunction

    init = LambdaFunction.__init__
    get_configuration = LambdaFunction.get_configuration
    update_configuration = LambdaFunction.update_configuration

    def patched_init(self, account_id, spec, *args, **kwargs):
        init(self, account_id, spec, *args, **kwargs)
        self._mlp_kept = {key: spec[key] for key in KEPT if spec.get(key)}

    def patched_get_configuration(self, *args, **kwargs):
        config = get_configuration(self, *args, **kwargs)
        config.update(getattr(self, "_mlp_kept", {}))
        return config

    def patched_update_configuration(self, config_updates, *args, **kwargs):
        kept = getattr(self, "_mlp_kept", {})
        kept.update({key: config_updates[key] for key in KEPT if key in config_updates})
        self._mlp_kept = kept
        return update_configuration(self, config_updates, *args, **kwargs)

    LambdaFunction.__init__ = patched_init
    LambdaFunction.get_configuration = patched_get_configuration
    LambdaFunction.update_configuration = patched_update_configuration


def sns_publish_does_not_run_lambda_subscribers() -> None:
    """moto: Publish to a topic with a Lambda subscription runs the function in a Docker container at once,
    inside the Publish request; with no Docker here (and, after a snapshot restore, no Docker client on the
    copied function) that raises, and Publish answers 500. On AWS a Publish never fails because of a
    subscriber: SNS delivers to Lambda asynchronously. Patched: the delivery to Lambda subscribers is
    skipped (logged); the emulator runs no Lambda code, and the demo and tests deliver the message to the
    deployed handler in-process (emulator.billing.notify_topic). More lenient than moto, as AWS is."""
    import logging

    from moto.awslambda.models import LambdaBackend

    def send_sns_message(self, function_name, message, subject=None, qualifier=None):  # noqa: ANN001
        logging.getLogger(__name__).info("SNS message for Lambda %s not run by the emulator: %s", function_name,
                                         (subject or "")[:100])

    LambdaBackend.send_sns_message = send_sns_message


PATCHES: list[Callable[[], None]] = [lambda_keeps_dead_letter_and_logging_config, sns_publish_does_not_run_lambda_subscribers]
