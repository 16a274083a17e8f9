"""Enqueue a trainq training request from Python with boto3, as a backend does.

The request is validated against docs/request.schema.json before it is sent, and its
request_id follows trainq's rule: UUIDv5 of (customer, project, dedupe key) for data-shift
retraining (the same shift is trained once, however often it is sent), else the request's own
id, else a new random one.

    python enqueue.py STACK_FILE REQUEST_FILE [DEDUPE_KEY]   # prints the request id
    python enqueue.py --id CUSTOMER PROJECT DEDUPE_KEY       # prints the id the key gives

Needs boto3 and jsonschema. STACK_FILE is the file `trainq` reads (`.devstack/stack.json`
locally, or the one a deployment writes); credentials come from the usual AWS environment.
"""

import json
import pathlib
import sys
import uuid

import boto3
import jsonschema

# trainq's UUIDv5 namespace (common/src/naming.rs).
NAMESPACE = uuid.UUID("6f1c2d3e-9a4b-4c5d-8e7f-a0b1c2d3e4f5")
SCHEMA = json.loads((pathlib.Path(__file__).resolve().parent.parent / "request.schema.json").read_text())


def dedupe_request_id(customer: str, project: str, dedupe_key: str) -> str:
    """The request id of a data-shift retrain: stable for (customer, project, key)."""
    return str(uuid.uuid5(NAMESPACE, f"dedupe:{customer}/{project}/{dedupe_key}"))


def enqueue(sqs, queue_url: str, request: dict, dedupe_key: str | None = None) -> str:
    """Validates `request` against the schema, sends it, and returns its request id."""
    request = dict(request)
    if dedupe_key is not None:
        request["request_id"] = dedupe_request_id(request["customer"], request["project"], dedupe_key)
        request.setdefault("origin", {})["dedupe_key"] = dedupe_key  # recorded for lineage
    request.setdefault("request_id", str(uuid.uuid4()))
    jsonschema.validate(request, SCHEMA)  # raises ValidationError naming the field
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(request))
    return request["request_id"]


def sqs_client(stack: dict):
    """An SQS client for the stack (the local stack's endpoint and any credentials)."""
    endpoint = stack.get("endpoints", {}).get("default")
    extra = {"aws_access_key_id": "devstack", "aws_secret_access_key": "devstack"} if endpoint else {}
    return boto3.client("sqs", region_name=stack["region"], endpoint_url=endpoint, **extra)


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "--id":
        print(dedupe_request_id(*argv[1:]))
        return 0
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 64
    stack = json.loads(pathlib.Path(argv[0]).read_text())
    request = json.loads(pathlib.Path(argv[1]).read_text())
    try:
        request_id = enqueue(sqs_client(stack), stack["requests_queue_url"], request, argv[2] if len(argv) == 3 else None)
    except jsonschema.ValidationError as e:
        field = ".".join(str(p) for p in e.absolute_path) or "(body)"
        print(f"error: invalid request: `{field}`: {e.message}", file=sys.stderr)
        return 2
    print(request_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
