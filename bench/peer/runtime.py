"""The Lambda Runtime API loop a Python function runs (what awslambdaric does, minus its C
extension): ask for the next invocation, call the handler, post its answer."""

import json
import os
import urllib.request


def serve(handler):
    """Serves invocations from `$AWS_LAMBDA_RUNTIME_API` with `handler(event) -> dict`."""
    base = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"
    while True:
        with urllib.request.urlopen(f"{base}/next") as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(response.read())
        try:
            body, outcome = json.dumps(handler(event)).encode(), "response"
        except Exception as error:  # the runtime reports every failure, as Lambda's does
            body = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__})
            body, outcome = body.encode(), "error"
        answer = urllib.request.Request(f"{base}/{request_id}/{outcome}", data=body, method="POST")
        urllib.request.urlopen(answer).read()
