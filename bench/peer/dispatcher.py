"""The Python/boto3 peer of trainq's dispatcher, for `make bench`: what a team would write
instead. Same calls per request as trainq on the happy path (a conditional claim write,
CreateTrainingJob, a conditional write of the launch), same environment, the same SQS batch
contract. Validation is a few field checks, far less than trainq's, which only flatters the
peer."""

import json
import os
import time
import uuid

import boto3
from botocore.config import Config

import runtime

CONFIG = Config(retries={"max_attempts": 1})
dynamodb = boto3.client("dynamodb", config=CONFIG)
sagemaker = boto3.client("sagemaker", config=CONFIG)
TABLE = os.environ["TRAINQ_JOBS_TABLE"]


def registry(name):
    prefix = f"TRAINQ_{name.upper()}_"
    return {
        "ecr": os.environ[prefix + "ECR_REGISTRY"],
        "images": json.loads(os.environ[prefix + "IMAGES"]),
        "output": os.environ[prefix + "OUTPUT_S3_URI"].rstrip("/"),
        "checkpoints": os.environ[prefix + "CHECKPOINT_S3_URI"].rstrip("/"),
        "role": os.environ[prefix + "ROLE_ARN"],
    }


REGISTRIES = {name: registry(name) for name in ("production", "research")}


def validate(request):
    for field in ("customer", "project", "registry", "image", "dataset", "resources"):
        if field not in request:
            raise ValueError(f"`{field}`: is required")
    reg = REGISTRIES.get(request["registry"])
    if reg is None:
        raise ValueError("`registry`: must be production or research")
    repository = request["image"].split(":")[0]
    if repository not in reg["images"]:
        raise ValueError("`image`: not in the registry's allow-list")
    return reg


def job_name(request_id, attempt):
    return f"tq-{uuid.UUID(request_id).hex}-{attempt}"


def launch(record):
    request = json.loads(record["body"])
    request_id = request.get("request_id") or str(uuid.uuid5(uuid.NAMESPACE_URL, record["messageId"]))
    reg = validate(request)
    name = job_name(request_id, 1)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    item = {
        "request_id": {"S": request_id},
        "state": {"S": "Launching"},
        "registry": {"S": request["registry"]},
        "customer": {"S": request["customer"]},
        "project": {"S": request["project"]},
        "request": {"S": record["body"]},
        "job_name": {"S": name},
        "created_at": {"S": now},
        "updated_at": {"S": now},
        "version": {"N": "1"},
    }
    try:
        dynamodb.put_item(
            TableName=TABLE,
            Item=item,
            ConditionExpression="attribute_not_exists(request_id)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return  # a duplicate delivery: already claimed
    resources = request["resources"]
    metrics = reg["images"][request["image"].split(":")[0]]
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": f"{reg['ecr']}/{request['image']}",
            "TrainingInputMode": "File",
            "MetricDefinitions": [
                {"Name": m if isinstance(m, str) else m["name"],
                 "Regex": f"{m}=([0-9.eE+-]+)" if isinstance(m, str) else m["regex"]}
                for m in metrics
            ],
        },
        RoleArn=reg["role"],
        HyperParameters=request.get("hyperparameters", {}),
        InputDataConfig=[
            {"ChannelName": channel, "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}}}
            for channel, uri in request["dataset"]["channels"].items()
        ],
        OutputDataConfig={"S3OutputPath": f"{reg['output']}/{request['customer']}/{request['project']}/"},
        ResourceConfig={
            "InstanceType": resources["instance_type"],
            "InstanceCount": resources.get("instance_count", 1),
            "VolumeSizeInGB": resources.get("volume_gb", 50),
        },
        StoppingCondition={
            "MaxRuntimeInSeconds": resources["max_runtime_s"],
            "MaxWaitTimeInSeconds": resources["max_runtime_s"] * 2,
        },
        EnableManagedSpotTraining=bool(resources.get("spot")),
        CheckpointConfig={"S3Uri": f"{reg['checkpoints']}/{request_id}/", "LocalPath": "/opt/ml/checkpoints"},
        Tags=[
            {"Key": "trainq:request-id", "Value": request_id},
            {"Key": "trainq:registry", "Value": request["registry"]},
            {"Key": "trainq:customer", "Value": request["customer"]},
            {"Key": "trainq:project", "Value": request["project"]},
            {"Key": "trainq:attempt", "Value": "1"},
        ],
    )
    # The launch recorded at once, as trainq does: the record says InProgress before the
    # job's first event arrives.
    item["state"] = {"S": "InProgress"}
    item["version"] = {"N": "2"}
    item["updated_at"] = {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    dynamodb.put_item(
        TableName=TABLE,
        Item=item,
        ConditionExpression="version = :v",
        ExpressionAttributeValues={":v": {"N": "1"}},
    )


def handler(event):
    failures = []
    for record in event["Records"]:
        try:
            launch(record)
        except ValueError:
            pass  # rejected: a real peer would record it; the benchmark sends none
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


if __name__ == "__main__":
    runtime.serve(handler)
