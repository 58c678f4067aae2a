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


def sns_leaves_lambda_delivery_to_the_emulator() -> None:
    """moto: Publish to a topic with a Lambda subscriber invokes the function inside the Publish call,
    through Docker, which the emulator has none of: Publish answers 500, so the publisher fails (the
    register handler's alert, the deploy handler's budget alert). On AWS, SNS delivers to Lambda
    asynchronously and Publish succeeds whatever the subscriber does.

    Patched: Publish succeeds as on AWS and moto invokes nothing; the delivery is played by the emulator
    (emulator/billing.notify_topic), which invokes the subscriber's deployed handler under its role.
    """
    from moto.awslambda.models import LambdaBackend

    if getattr(LambdaBackend.send_sns_message, "mlp_patched", False):
        return

    def send_sns_message(self, function_name, message, subject=None, qualifier=None):
        return None

    send_sns_message.mlp_patched = True  # type: ignore[attr-defined]
    LambdaBackend.send_sns_message = send_sns_message


PATCHES: list[Callable[[], None]] = [lambda_keeps_dead_letter_and_logging_config, sns_leaves_lambda_delivery_to_the_emulator]
