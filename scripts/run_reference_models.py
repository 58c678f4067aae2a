"""Train and serve the reference models on this host, with no emulator and no AWS: the GPU check.

    python -m scripts.run_reference_models            # both example teams
    python -m scripts.run_reference_models --teams fraud --rows 20000 --keep /tmp/runs

Needs only Python 3 with PyTorch, numpy, pandas and scikit-learn (what AWS's PyTorch framework
containers carry; no project venv). For each example team it generates training data from the team's
feature definitions (model_code/examples/<team>.json), packs the team's code bundle, runs its
training entry point under SageMaker's container contract (emulator/container.py: local files in the
container layout, the data in a `train` channel), then loads the model with the inference entry point
and answers a CSV and a JSON request. It prints the device the training used (`cuda` when PyTorch sees
a GPU) and the holdout metric, and exits non-zero when a run fails.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from emulator import traffic  # standard library only
from emulator.container import invoke, run_training
from ops.code_bundle import pack

ROOT = Path(__file__).resolve().parent.parent

EXAMPLES = ROOT / "model_code" / "examples"


def team_job(team: str, rows: int, epochs: str | None = None) -> dict:
    """What a local run of `team` trains on: its example inputs, generated data, bundle, hyperparameters, channels."""
    example = json.loads((EXAMPLES / f"{team}.json").read_text())
    definitions = example["definitions"]
    data = traffic.training_csv(definitions, rows, seed=7, problem_type=example["problem_type"])
    hyperparameters = dict(example["hyperparameters"], **({"epochs": epochs} if epochs else {}))
    channels = {"train": {"train.csv": data}, "definitions": {"definitions.json": json.dumps(definitions).encode()}}
    return {
        "example": example,
        "data": data,
        "bundle": pack(ROOT / "model_code" / team),
        "hyperparameters": hyperparameters,
        "channels": channels,
    }


def run_team(team: str, rows: int, root: Path, python: str, epochs: str | None) -> bool:
    job = team_job(team, rows, epochs)
    definitions, data, bundle = job["example"]["definitions"], job["data"], job["bundle"]
    print(
        f"[{team}] bundle sha256 {bundle.sha256} ({len(bundle.data)} bytes); {rows} rows; "
        f"hyperparameters {job['hyperparameters']}",
        flush=True,
    )
    result = run_training(
        bundle.data, root / team, hyperparameters=job["hyperparameters"], python=python, channels=job["channels"]
    )
    if result.status != "Completed":
        print(result.logs[-4000:])
        print(f"[{team}] training {result.status}: {result.failure_reason}")
        return False
    evaluation = json.loads((result.model_dir / "evaluation.json").read_text())
    trained = [line.split("=", 1)[1] for line in result.logs.splitlines() if line.startswith("training_seconds=")]
    print(
        f"[{team}] device={evaluation['device']} holdout {evaluation['metric']}={evaluation['value']:.4f} "
        f"({evaluation['holdout_rows']} holdout rows, {evaluation['train_rows']} training rows, "
        f"{evaluation['epochs']} epochs); training {float(trained[-1]):.1f} s, whole job {result.seconds:.1f} s",
        flush=True,
    )

    sample = list(csv.DictReader(io.StringIO(data.decode())))[:3]
    order = definitions["model_inputs"]["features"]
    as_csv = "".join(",".join(row[name] for name in order) + "\n" for row in sample).encode()
    as_json = json.dumps({"instances": [{name: row[name] for name in order} for row in sample]}).encode()
    answers = invoke(
        result.model_dir / "code",
        result.model_dir,
        [(as_csv, "text/csv", "text/csv"), (as_json, "application/json", "application/json")],
        python=python,
    )
    for answer, kind in zip(answers, ("CSV", "JSON")):
        print(f"[{team}] inference, {kind} request of {len(sample)} rows -> {answer.status} {answer.body.strip()!r}")
    return all(answer.status == 200 for answer in answers)


PREFLIGHT = (
    "import sys, numpy, pandas, sklearn, torch; cuda = torch.cuda.is_available(); "
    "print(f'python {sys.version.split()[0]}, torch {torch.__version__}, numpy {numpy.__version__}, '"
    "f'pandas {pandas.__version__}, scikit-learn {sklearn.__version__}; cuda available: {cuda}'"
    "+ (f' ({torch.cuda.device_count()} x {torch.cuda.get_device_name(0)})' if cuda else ''))"
)


def preflight(python: str) -> bool:
    """Say what the container's Python has (and whether PyTorch sees a GPU) before training anything."""
    done = subprocess.run([python, "-c", PREFLIGHT], capture_output=True, text=True)
    print(done.stdout.strip() or f"{python} cannot run the reference models: {done.stderr.strip().splitlines()[-1:]}", flush=True)
    return done.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", default=",".join(sorted(p.stem for p in EXAMPLES.glob("*.json"))))
    parser.add_argument("--rows", type=int, default=5000, help="generated training rows per team")
    parser.add_argument("--epochs", help="override the team's epochs hyperparameter")
    parser.add_argument("--keep", type=Path, help="keep the container roots here (default: a temporary directory)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that plays the container's Python")
    args = parser.parse_args(argv)
    if not preflight(args.python):
        return 1
    root = args.keep or Path(tempfile.mkdtemp(prefix="mlp-reference-"))
    if args.keep and args.keep.exists():
        shutil.rmtree(args.keep)
    try:
        ok = [run_team(team, args.rows, root, args.python, args.epochs) for team in args.teams.split(",")]
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("all reference runs completed" if all(ok) else "some reference runs FAILED")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
