"""Write model_code/examples/<team>.json from the platform config: what the reference models' local run
(scripts/run_reference_models.py) needs of each example team, for hosts that have no project venv.

Each file holds the team's published feature definitions (exactly the features/definitions.json the
stack writes), its problem type, quality metric and training hyperparameters. tests/models checks the
files still match platform.yaml; run `.venv/bin/python -m scripts.write_model_examples` after changing
a team's features or training settings.
"""

from __future__ import annotations

import json
from pathlib import Path

from config.features import definitions_document
from config.platform import load_config

ROOT = Path(__file__).resolve().parent.parent

EXAMPLES = ROOT / "model_code" / "examples"


def example_inputs(team) -> dict:
    return {
        "team": team.name,
        "problem_type": team.settings.monitoring.problem_type,
        "quality_metric": team.settings.monitoring.metric,
        "hyperparameters": dict(team.settings.training.hyperparameters),
        "definitions": definitions_document(team.name, team.settings.features),
    }


def render(document: dict) -> str:
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def main() -> None:
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for team in load_config(ROOT / "platform.yaml").teams:
        if team.settings.features is None or not (ROOT / "model_code" / team.name).is_dir():
            continue
        path = EXAMPLES / f"{team.name}.json"
        path.write_text(render(example_inputs(team)))
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
