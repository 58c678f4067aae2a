"""CLI failures of AWS or of its state are one line on stderr with exit code 1, no traceback: an
undeployed stack, an unreachable endpoint, no training data."""

from __future__ import annotations

import pytest

import main
from common.manifest import EmptyTrainingData
from emulator.server import running_emulator


@pytest.fixture(scope="module")
def empty_account():
    with running_emulator() as emulator, pytest.MonkeyPatch.context() as patch:
        for name, value in emulator.client_env().items():
            patch.setenv(name, value)
        patch.setenv("MLP_MAX_ATTEMPTS", "1")
        yield emulator


def one_line_error(argv, capsys) -> str:
    code = main.main(argv)
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_train_on_an_undeployed_stack(empty_account, capsys):
    err = one_line_error(["train", "fraud-local"], capsys)
    assert "Function not found" in err and "mlp-fraud-local-retrain" in err and "is the stack deployed?" in err


def test_lineage_against_an_unreachable_endpoint(empty_account, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    err = one_line_error(["lineage", "fraud-local"], capsys)
    assert 'Could not connect to the endpoint URL: "http://127.0.0.1:9/' in err


def test_no_training_data_is_one_line():
    assert (
        main.operation_error(EmptyTrainingData("no objects under s3://b/training/: refusing to train on no data"))
        == "no objects under s3://b/training/: refusing to train on no data"
    )
    assert main.operation_error(KeyError("a bug")) is None  # a bug keeps its traceback


def test_a_malformed_recipe_is_one_line():
    from contract.recipes import RecipeError, TrainingRecipe

    with pytest.raises(RecipeError) as raised:
        TrainingRecipe.from_json('{"image_uri": ""}', source="SSM parameter /mlp/fraud/local/training-recipe")
    line = main.operation_error(raised.value)
    assert line is not None and line.startswith(
        "SSM parameter /mlp/fraud/local/training-recipe holds a malformed training recipe: "
    )
    assert "image_uri: expected a non-empty string" in line and "\n" not in line
