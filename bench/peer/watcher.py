"""The Python/boto3 peer of trainq's watcher, for `make bench`: keeps the record of each
training job from its state-change events and registers completed models, with the same AWS
calls per event as trainq on the happy path (`bench/results.md`, section 3)."""

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
events = boto3.client("events", config=CONFIG)
TABLE = os.environ["TRAINQ_JOBS_TABLE"]
ALERTS_BUS = os.environ["TRAINQ_ALERTS_BUS"]
GROUP_PREFIX = {
    "production": os.environ["TRAINQ_PRODUCTION_MODEL_GROUP_PREFIX"],
    "research": os.environ["TRAINQ_RESEARCH_MODEL_GROUP_PREFIX"],
}


def tags_of(detail):
    tags = detail.get("Tags") or {}
    if isinstance(tags, list):
        return {t["Key"]: t["Value"] for t in tags}
    return tags


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write(item, version):
    """Writes `item` if the stored record is still at `version` (optimistic locking)."""
    item["version"] = {"N": str(version + 1)}
    item["updated_at"] = {"S": now()}
    dynamodb.put_item(
        TableName=TABLE,
        Item=item,
        ConditionExpression="version = :v",
        ExpressionAttributeValues={":v": {"N": str(version)}},
    )
    return version + 1


def register(item, detail, tags, version):
    registry = tags["trainq:registry"]
    group = f"{GROUP_PREFIX[registry]}-{tags['trainq:customer']}-{tags['trainq:project']}"
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    except sagemaker.exceptions.ClientError:
        sagemaker.create_model_package_group(ModelPackageGroupName=group)
    job = detail["TrainingJobName"]
    # A package an earlier, interrupted try created is found, not doubled.
    listed = sagemaker.list_model_packages(ModelPackageGroupName=group, MaxResults=100)
    for summary in listed["ModelPackageSummaryList"]:
        if summary.get("ModelPackageDescription") == f"trainq {job}":
            item["state"] = {"S": "Registered"}
            return write(item, version)
    package = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"trainq {job}",
        ClientToken=str(uuid.uuid5(uuid.NAMESPACE_URL, job)),  # AWS: 1-36 characters
        InferenceSpecification={
            "Containers": [{"Image": detail["AlgorithmSpecification"]["TrainingImage"],
                            "ModelDataUrl": detail["ModelArtifacts"]["S3ModelArtifacts"]}],
            "SupportedContentTypes": ["application/x-image"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"request_id": tags["trainq:request-id"], "job_name": job},
    )
    item["state"] = {"S": "Registered"}
    item["model_package_arn"] = {"S": package["ModelPackageArn"]}
    events.put_events(Entries=[{
        "Source": "trainq",
        "DetailType": "Model Registered",
        "EventBusName": ALERTS_BUS,
        "Detail": json.dumps({"request_id": tags["trainq:request-id"], "job_name": job,
                              "model_package_arn": package["ModelPackageArn"]}),
    }])
    return write(item, version)


def track(event):
    detail = event["detail"]
    tags = tags_of(detail)
    request_id = tags.get("trainq:request-id")
    if request_id is None:
        return  # not ours
    stored = dynamodb.get_item(TableName=TABLE, Key={"request_id": {"S": request_id}},
                               ConsistentRead=True).get("Item")
    if stored is None:
        return
    version = int(stored.get("version", {"N": "0"})["N"])
    status = detail["TrainingJobStatus"]
    stored["job_status"] = {"S": status}
    stored["secondary_status"] = {"S": detail.get("SecondaryStatus") or ""}
    if status in ("Completed", "Failed", "Stopped"):
        job = sagemaker.describe_training_job(TrainingJobName=detail["TrainingJobName"])
        stored["billable_s"] = {"N": str(job.get("BillableTimeInSeconds", 0))}
        stored["metrics"] = {"S": json.dumps(
            {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])})}
        stored["state"] = {"S": status}
        version = write(stored, version)
        if status == "Completed":
            job["Tags"] = detail.get("Tags")
            register(stored, job, tags, version)
    else:
        stored["state"] = {"S": "InProgress"}
        write(stored, version)


def handler(event):
    failures = []
    for record in event["Records"]:
        try:
            track(json.loads(record["body"]))
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


if __name__ == "__main__":
    runtime.serve(handler)
