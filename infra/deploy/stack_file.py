"""Writes the stack file `trainq` reads, from a deployed trainq stack's outputs and parameters.

    python stack_file.py STACK_NAME > trainq-stack.json

The registries' variables are read from the dispatcher function's own environment, so
`trainq submit` validates requests exactly as the dispatcher will. Credentials and region: the usual AWS
environment (AWS_ENDPOINT_URL too, which the tests use to run this against moto).
"""

import json
import sys

import boto3

# common/src/stack.rs: SCHEDULER_VARIABLES.
SCHEDULER_VARIABLES = ("TRAINQ_POOL_LIMITS", "TRAINQ_PRIORITY_CLASSES", "TRAINQ_CUSTOMER_WEIGHTS")


def stack_file(name: str, cloudformation, lambda_client) -> dict:
    """The stack file of stack `name`: the dispatcher's own environment (table, bus, queue,
    registries exactly as it has them) and the stack's queues (their physical ids are URLs)."""
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    queue = {r.get("LogicalResourceId"): r.get("PhysicalResourceId") for r in resources if r.get("ResourceType") == "AWS::SQS::Queue"}
    dispatcher = f"{params.get('StackPrefix', 'trainq')}-dispatcher"
    config = lambda_client.get_function_configuration(FunctionName=dispatcher)
    env = {k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()}
    return {
        "region": cloudformation.meta.region_name,
        "requests_queue_url": env["TRAINQ_REQUESTS_QUEUE_URL"],
        "requests_dlq_url": queue["RequestsDeadLetterQueue"],
        "job_events_queue_url": queue["JobEventsQueue"],
        "jobs_table": env["TRAINQ_JOBS_TABLE"],
        "alerts_bus": env["TRAINQ_ALERTS_BUS"],
        "alerts_queue_url": queue["AlertsQueue"],
        "registries": {k: v for k, v in env.items() if k.startswith(("TRAINQ_PRODUCTION_", "TRAINQ_RESEARCH_"))},
        # The ledger and the limits `trainq status` and `trainq queue` read (as the dispatcher has them).
        "capacity_table": env.get("TRAINQ_CAPACITY_TABLE"),
        "scheduler": {k: v for k, v in env.items() if k in SCHEDULER_VARIABLES},
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    print(json.dumps(stack_file(sys.argv[1], boto3.client("cloudformation"), boto3.client("lambda")), indent=2))
