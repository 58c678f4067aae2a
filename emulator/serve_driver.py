"""Inside the inference child process of emulator.container.invoke: what the PyTorch serving toolkit does.

Reads {"program", "model_dir", "requests": [{"body" (latin-1), "content_type", "accept"}]} on stdin,
imports the program (the bundle's inference script, on PYTHONPATH), calls model_fn once and
input_fn -> predict_fn -> output_fn per request, and prints one JSON line of answers
[{"status", "body", "content_type"}]. An error in a request is that request's answer: its `status`
attribute (the modelkit's RequestError) or 500, with the message as body. Standard library only.
"""
from __future__ import annotations

import importlib
import json
import sys
import traceback


def main() -> None:
    job = json.loads(sys.stdin.read())
    script = importlib.import_module(job["program"].removesuffix(".py"))
    model = script.model_fn(job["model_dir"])
    answers = []
    for request in job["requests"]:
        try:
            inputs = script.input_fn(request["body"].encode("latin-1"), request["content_type"])
            prediction = script.predict_fn(inputs, model)
            body, content_type = script.output_fn(prediction, request["accept"])
            answers.append({"status": 200, "body": body, "content_type": content_type})
        except Exception as error:  # noqa: BLE001 - each request's failure is its own answer
            status = getattr(error, "status", 500)
            if status >= 500:
                traceback.print_exc()
            answers.append({"status": status, "body": f"{type(error).__name__}: {error}", "content_type": "text/plain"})
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
