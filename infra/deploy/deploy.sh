#!/usr/bin/env bash
# Deploys trainq to AWS with the AWS CLI: uploads the function zips (dist/, from `make build`)
# under content-addressed keys, so a changed function is redeployed and an unchanged one is not;
# deploys infra/cloudformation/template.yaml; writes the stack file `trainq` reads.
#
#   STACK=trainq ARTIFACT_BUCKET=my-artifacts PARAMETERS=params.txt infra/deploy/deploy.sh
#
# AWS credentials, region and profile come from the usual AWS environment.
set -euo pipefail
cd "$(dirname "$0")/../.."

STACK="${STACK:-trainq}"
: "${ARTIFACT_BUCKET:?set ARTIFACT_BUCKET: the bucket the function zips are uploaded to}"
: "${PARAMETERS:?set PARAMETERS: a file of Key=Value lines (infra/deploy/parameters.example)}"
STACK_FILE="${STACK_FILE:-$STACK-stack.json}"
DIST="${DIST:-dist}"
AWS="${AWS:-.venv-tools/bin/aws}"
PYTHON="${PYTHON_TOOLS:-.venv-tools/bin/python}"

overrides=("ArtifactBucket=$ARTIFACT_BUCKET")
for function in trainq-dispatcher trainq-watcher; do
  zip="$DIST/$function.zip"
  [ -f "$zip" ] || { echo "error: $zip not found; run make build" >&2; exit 1; }
  key="trainq/$function-$(sha256sum "$zip" | cut -c1-16).zip"
  "$AWS" s3 cp --only-show-errors "$zip" "s3://$ARTIFACT_BUCKET/$key"
  case "$function" in
    trainq-dispatcher) overrides+=("DispatcherCodeKey=$key") ;;
    trainq-watcher) overrides+=("WatcherCodeKey=$key") ;;
  esac
done
# One argument per line, so values with spaces and quotes (the images JSON) stay whole.
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in ''|'#'*) continue ;; esac
  overrides+=("$line")
done < "$PARAMETERS"

# CloudFormation takes a template inline only up to 51,200 bytes; a larger one goes by S3.
template_upload=()
if [ "$(wc -c < infra/cloudformation/template.yaml)" -gt 51200 ]; then
  template_upload=(--s3-bucket "$ARTIFACT_BUCKET" --s3-prefix "$STACK/templates")
fi
"$AWS" cloudformation deploy \
  --stack-name "$STACK" \
  --template-file infra/cloudformation/template.yaml \
  "${template_upload[@]}" \
  --capabilities CAPABILITY_NAMED_IAM \
  --no-fail-on-empty-changeset \
  --parameter-overrides "${overrides[@]}"

"$PYTHON" infra/deploy/stack_file.py "$STACK" > "$STACK_FILE"
echo "stack $STACK deployed; trainq reads $STACK_FILE (trainq --config $STACK_FILE, or TRAINQ_CONFIG)"
