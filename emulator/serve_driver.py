"""Inside an inference child process: what the PyTorch serving toolkit does.

Imports the program (the inference script, on PYTHONPATH), calls model_fn once on the model directory
and input_fn -> predict_fn -> output_fn per request. An error in a request is that request's answer:
its `status` attribute (the modelkit's RequestError) or 500, with the message as body; the model
latency (microseconds, as SageMaker's ModelLatency) is measured around the three calls.

Two ways to drive it (standard library only):
- batch (emulator.container.invoke): {"program", "model_dir", "requests": [{"body" (latin-1),
  "content_type", "accept"}]} on stdin, one JSON line of answers [{"status", "body", "content_type",
  "latency_us"}] on stdout;
- `--serve PROGRAM MODEL_DIR` (emulator.endpoint_runtime, one long-lived process per endpoint
  variant): prints {"ready": true} once the model is loaded (or {"ready": false, "error"} and exits),
  then answers one JSON request line with one JSON answer line until stdin closes.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from types import ModuleType
from typing import Any


def load(program: str, model_dir: str) -> tuple[ModuleType, Any]:
    script = importlib.import_module(program.removesuffix(".py"))
    return script, script.model_fn(model_dir)


def answer(script: ModuleType, model: Any, request: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        inputs = script.input_fn(request["body"].encode("latin-1"), request["content_type"])
        prediction = script.predict_fn(inputs, model)
        body, content_type = script.output_fn(prediction, request["accept"])
        status = 200
    except Exception as error:
        status = getattr(error, "status", 500)
        if not isinstance(status, int) or not 400 <= status <= 599:
            status = 500
        if status >= 500:
            traceback.print_exc()
        body, content_type = f"{type(error).__name__}: {error}", "text/plain"
    latency = round((time.perf_counter() - started) * 1e6)
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("latin-1")
    return {"status": status, "body": str(body), "content_type": content_type, "latency_us": latency}


def serve(program: str, model_dir: str) -> None:
    out, sys.stdout = sys.stdout, sys.stderr  # what the script prints goes to the log, not into the answers
    try:
        script, model = load(program, model_dir)
    except Exception as error:
        traceback.print_exc()
        print(json.dumps({"ready": False, "error": f"{type(error).__name__}: {error}"}), file=out, flush=True)
        return
    print(json.dumps({"ready": True}), file=out, flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(answer(script, model, json.loads(line))), file=out, flush=True)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
        return
    job = json.loads(sys.stdin.read())
    script, model = load(job["program"], job["model_dir"])
    print(json.dumps([answer(script, model, request) for request in job["requests"]]))


if __name__ == "__main__":
    main()
