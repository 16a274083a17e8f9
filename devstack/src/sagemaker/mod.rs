//! The local SageMaker endpoint, and the devstack's front door to every AWS service.
//!
//! Every request is first checked against AWS's own contract ([`crate::contract`]): a call
//! that AWS would refuse is answered as AWS answers it and never reaches moto or a job.
//!
//! moto accepts a reused training job name, never throttles and has no StopTrainingJob, so
//! trainq's launch guarantees cannot be tested against it alone. This endpoint answers the
//! training-job operations itself (CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs,
//! StopTrainingJob, and ListTags for training jobs) and forwards everything else (the model
//! registry, …) to moto unchanged.
//!
//! Jobs whose image repository maps to a local command (a [`RunnerConfig`]) run as processes
//! under the SageMaker container contract ([`runner`]); the others stay `InProgress` until
//! stopped or ended through the control API.
//!
//! Control API for tests and the demo, beside the SageMaker API:
//! - `PUT /_devstack/faults` with a [`Faults`] body replaces the fault settings;
//! - `GET /_devstack/stats` returns the [`Stats`] counters;
//! - `POST /_devstack/jobs/{name}/finish` with a [`Finish`] body ends a running job;
//! - `POST /_devstack/jobs/{name}/interrupt` interrupts a running process as a spot reclaim.
//!
//! Every status change publishes the "SageMaker Training Job State Change" event AWS would,
//! to moto's default event bus.

mod caller_identity;
mod events;
mod faults;
mod forward;
mod job;
mod jobs;
mod protocol;
mod reads;
mod runner;
mod sender_ids;
mod validate;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio::net::TcpListener;

pub use faults::{Faults, Stats};
pub use jobs::Finish;
pub use reads::DynamoReads;
pub use runner::{RunnerConfig, SPOT_BILLED_SHARE};

use crate::contract::{Contract, Verdict};
use jobs::Jobs;
use protocol::ApiError;

/// Shared state of one endpoint.
struct Endpoint {
    jobs: Mutex<Jobs>,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    forwarder: forward::Forwarder,
    events: events::EventPublisher,
    runner: Option<runner::Runner>,
    contract: Contract,
    senders: sender_ids::SenderIds,
    /// moto's S3, for the model artifacts of jobs finished by hand.
    artifacts: runner::Storage,
    /// Held while a DynamoDB write is forwarded: DynamoDB applies a conditional write to an
    /// item atomically, but moto's threaded server checks the condition and writes without a
    /// lock, so two concurrent conditional writes could both pass (20 concurrent takes of a
    /// pool of 5 once held 6 slots). One write at a time restores DynamoDB's guarantee.
    dynamodb_writes: tokio::sync::Mutex<()>,
}

/// A running local SageMaker endpoint.
pub struct LocalSageMaker {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    state: Arc<Endpoint>,
}

impl LocalSageMaker {
    /// Serves on `listener`, forwarding other operations to moto at `moto_url`; no job runs.
    pub fn spawn(listener: TcpListener, moto_url: &str) -> std::io::Result<Self> {
        Self::serve(listener, moto_url, None)
    }

    /// Serves like [`Self::spawn`], and runs jobs whose images `runner` maps to commands
    /// (their data and models in moto's S3).
    pub async fn spawn_running(
        listener: TcpListener,
        moto_url: &str,
        runner: RunnerConfig,
    ) -> std::io::Result<Self> {
        let storage = runner::Storage::new(moto_url);
        Self::serve(
            listener,
            moto_url,
            Some(runner::Runner {
                config: runner,
                storage,
            }),
        )
    }

    fn serve(
        listener: TcpListener,
        moto_url: &str,
        runner: Option<runner::Runner>,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let models = crate::contract::shared_models().map_err(std::io::Error::other)?;
        let endpoint = Arc::new(Endpoint {
            contract: Contract::new(models),
            senders: sender_ids::SenderIds::default(),
            artifacts: runner::Storage::new(moto_url),
            jobs: Mutex::new(Jobs::default()),
            faults: Mutex::new(Faults::default()),
            stats: Mutex::new(Stats::default()),
            forwarder: forward::Forwarder::new(moto_url),
            events: events::EventPublisher::new(moto_url),
            runner,
            dynamodb_writes: tokio::sync::Mutex::new(()),
        });
        let app = Router::new()
            .route("/_devstack/faults", put(set_faults))
            .route("/_devstack/stats", get(stats))
            .route("/_devstack/jobs/{name}/finish", post(finish))
            .route("/_devstack/jobs/{name}/interrupt", post(interrupt))
            .fallback(dispatch)
            .with_state(Arc::clone(&endpoint));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "local SageMaker endpoint stopped");
            }
        });
        Ok(Self {
            addr,
            task,
            state: endpoint,
        })
    }

    /// Calls signed with `access_key` are made as `identity` (its policies authorize each).
    pub fn set_identity(&self, access_key: &str, identity: crate::contract::iam::Identity) {
        self.state.contract.set_identity(access_key, identity);
    }

    /// Messages sent with `access_key` are reported by SQS as sent by `user_id` (their
    /// `SenderId`), as AWS reports the user id of the key's principal.
    pub fn set_sender(&self, access_key: &str, user_id: &str) {
        self.state.senders.set_principal(access_key, user_id);
    }

    /// The contract check's counters so far.
    pub fn contract_stats(&self) -> crate::contract::ContractStats {
        self.state.contract.stats()
    }

    /// The endpoint's URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the server stops (it runs until the process ends or [`Self::abort`]).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }

    /// Stops serving.
    pub fn abort(&self) {
        self.task.abort();
    }
}

impl Drop for LocalSageMaker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn set_faults(State(ep): State<Arc<Endpoint>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f) => {
            *ep.faults.lock().unwrap() = f;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("faults: {e}")).into_response(),
    }
}

async fn finish(
    State(ep): State<Arc<Endpoint>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let finish: Finish = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return ApiError::serialization(&format!("finish: {e}")).into_response(),
    };
    if let (Some(manifest), "Completed") = (&finish.manifest, finish.status.as_str()) {
        // A job finished by hand leaves a model as a real one does: `model.tar.gz` with the
        // manifest the test gave (and a stand-in model) where DescribeTrainingJob says.
        let url = ep.jobs.lock().unwrap().model_artifact(&name);
        let manifest = manifest.to_string();
        let files: [(&str, &[u8]); 2] = [
            ("manifest.json", manifest.as_bytes()),
            ("model.json", b"{}"),
        ];
        let written = match (url, runner::tar_gz_files(&files)) {
            (Some(url), Ok(bytes)) => ep.artifacts.put(&url, bytes).await,
            (None, _) => Err(format!("no training job `{name}`")),
            (_, Err(e)) => Err(e.to_string()),
        };
        if let Err(e) = written {
            return ApiError::validation(format!("finish: {e}")).into_response();
        }
    }
    let result = ep.jobs.lock().unwrap().finish(&name, &finish);
    match result {
        Ok(()) => {
            publish_change(&ep, &name).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn interrupt(State(ep): State<Arc<Endpoint>>, Path(name): Path<String>) -> Response {
    let result = ep.jobs.lock().unwrap().interrupt(&name);
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Publishes the job's current state as a state-change event, in the job's region.
async fn publish_change(ep: &Endpoint, job_name: &str) {
    let detail = ep.jobs.lock().unwrap().event_detail(job_name);
    if let Some(detail) = detail {
        ep.events.publish(detail).await;
    }
}

async fn stats(State(ep): State<Arc<Endpoint>>) -> Response {
    let mut stats = ep.stats.lock().unwrap().clone();
    stats.contract = ep.contract.stats();
    axum::Json(stats).into_response()
}

/// `s3://bucket/key` of an S3 object URL in either style AWS documents:
/// `https://bucket.s3.region.amazonaws.com/key` or `https://s3.region.amazonaws.com/bucket/key`.
fn s3_uri_of(url: &str) -> Option<String> {
    // The local endpoints serve S3 path-style: `http://127.0.0.1:<port>/<bucket>/<key>`.
    if let Some(rest) = url
        .strip_prefix("http://127.0.0.1:")
        .or_else(|| url.strip_prefix("http://localhost:"))
    {
        return Some(format!("s3://{}", rest.split_once('/')?.1));
    }
    let rest = url.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/')?;
    if host.starts_with("s3.") || host.starts_with("s3-") {
        return Some(format!("s3://{path}"));
    }
    let (bucket, _) = host.split_once(".s3")?;
    Some(format!("s3://{bucket}/{path}"))
}

/// A form-encoded body with `name` set to `value` (the rest as it was).
fn with_param(body: &Bytes, name: &str, value: &str) -> Bytes {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(body) {
        out.append_pair(&k, if k == name { value } else { &v });
    }
    Bytes::from(out.finish())
}

/// Answers training-job operations here and forwards the rest to moto.
async fn dispatch(State(ep): State<Arc<Endpoint>>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return ApiError::validation("request body too large or unreadable").into_response();
    };
    // CloudFormation reads a template given by URL from S3 before it checks the parameters:
    // so does the front door, from moto's S3.
    let url = ep.contract.template_url(&parts.headers, &body);
    let template = match url.as_deref().and_then(s3_uri_of) {
        Some(uri) => ep.artifacts.get_text(&uri).await.ok(),
        None => None,
    };
    // The AWS CLI names a template it uploaded through the front door by the front door's
    // own address (`http://127.0.0.1:<port>/<bucket>/<key>`); moto reads only AWS's URL
    // styles or a `localhost` one, so the call goes on naming it `localhost`.
    let body = match url
        .as_deref()
        .filter(|u| u.starts_with("http://127.0.0.1:"))
    {
        Some(u) => with_param(
            &body,
            "TemplateURL",
            &u.replacen("127.0.0.1", "localhost", 1),
        ),
        None => body,
    };
    let verdict = ep
        .contract
        .check_with_template(&parts.headers, &body, template.as_deref());
    if let Verdict::Refused(refusal) = verdict {
        return refusal.into_response();
    }
    if caller_identity::is_get_caller_identity(&parts.headers, &body)
        && let Some((key, user_id)) = ep.senders.caller_of(&parts.headers)
    {
        let offset = ep.faults.lock().unwrap().clock_offset_s;
        return caller_identity::answer(&key, &user_id, offset);
    }
    if faults::is_alert(&parts.headers, &body) {
        let verdict = {
            let faults = ep.faults.lock().unwrap().clone();
            faults.before_alert(&mut ep.stats.lock().unwrap())
        };
        if let Err(e) = verdict {
            return e.into_response();
        }
    }
    let operation = protocol::operation(&parts.headers);
    if operation.as_deref() == Some("CreateTrainingJob") {
        let delay = ep.faults.lock().unwrap().create_delay_ms;
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
    }
    let local = match operation.as_deref() {
        Some(op) => handle_local(&ep, op, &parts.headers, &body),
        None => None,
    };
    match local {
        Some(Ok(value)) => {
            if matches!(
                operation.as_deref(),
                Some("CreateTrainingJob" | "StopTrainingJob")
            ) {
                let input: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if let Some(name) = input.get("TrainingJobName").and_then(|n| n.as_str()) {
                    publish_change(&ep, name).await;
                    if operation.as_deref() == Some("CreateTrainingJob") {
                        runner::start(&ep, name);
                    }
                }
            }
            protocol::ok(&value)
        }
        Some(Err(e)) => e.into_response(),
        None => match sender_ids::sqs_operation(&parts.headers) {
            Some(op) => forward_sqs(&ep, op.to_owned(), parts, body).await,
            None if reads::read_operation(&parts.headers).is_some() => {
                forward_read(&ep, parts, body).await
            }
            None => {
                let _one_at_a_time = if is_dynamodb_write(&parts.headers) {
                    Some(ep.dynamodb_writes.lock().await)
                } else {
                    None
                };
                ep.forwarder.forward(parts, body).await
            }
        },
    }
}

/// Forwards a DynamoDB read and counts what it read for its caller.
async fn forward_read(ep: &Endpoint, parts: axum::http::request::Parts, body: Bytes) -> Response {
    let operation = reads::read_operation(&parts.headers).unwrap_or_default();
    let reader = reads::reader(&parts.headers);
    let request = body.clone();
    let (status, headers, answer) = match ep.forwarder.fetch(parts, body).await {
        Ok(fetched) => fetched,
        Err(response) => return response,
    };
    if status.is_success() {
        let mut stats = ep.stats.lock().unwrap();
        stats
            .dynamodb_reads
            .entry(reader)
            .or_default()
            .count(operation, &request, &answer);
    }
    forward::respond(status, &headers, answer)
}

/// Whether a call writes to DynamoDB (conditionally or not).
fn is_dynamodb_write(headers: &HeaderMap) -> bool {
    headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
        .is_some_and(|op| {
            matches!(
                op,
                "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem"
            )
        })
}

/// Forwards an SQS call whose answer carries message ids, keeping `SenderId` as AWS sets it.
async fn forward_sqs(
    ep: &Endpoint,
    operation: String,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Response {
    let sender = ep.senders.sender_of(&parts.headers);
    let in_flight = (operation != "ReceiveMessage").then(|| ep.senders.sending());
    let (status, headers, answer) = match ep.forwarder.fetch(parts, body).await {
        Ok(fetched) => fetched,
        Err(response) => return response,
    };
    let answer = match (operation.as_str(), status.is_success()) {
        ("ReceiveMessage", true) => ep.senders.rewrite_settled(answer).await,
        (_, true) => {
            if let Some(sender) = &sender {
                ep.senders.remember(sender, &answer);
            }
            answer
        }
        _ => answer,
    };
    drop(in_flight);
    forward::respond(status, &headers, answer)
}

/// `None` when the operation is not one this endpoint answers.
fn handle_local(
    ep: &Endpoint,
    operation: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<Result<serde_json::Value, ApiError>> {
    let input = || -> Result<serde_json::Value, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::serialization(&e.to_string()))
    };
    let region = protocol::region(headers);
    let result = match operation {
        "CreateTrainingJob" => {
            let mut stats = ep.stats.lock().unwrap();
            stats.create_calls += 1;
            let verdict = ep.faults.lock().unwrap().before_create(&mut stats);
            drop(stats);
            verdict.and_then(|()| input()).and_then(|i| {
                let faults = ep.faults.lock().unwrap().clone();
                let mut jobs = ep.jobs.lock().unwrap();
                let result = jobs.create(&i, &region, &faults);
                let running = i
                    .get("TrainingJobName")
                    .and_then(|n| n.as_str())
                    .and_then(|n| jobs.running_in_pool_of(n));
                drop(jobs);
                let mut stats = ep.stats.lock().unwrap();
                match &result {
                    Ok(_) => {
                        stats.jobs_created += 1;
                        if let Some((pool, running)) = running {
                            let peak = stats.peak_running.entry(pool).or_default();
                            *peak = (*peak).max(running);
                        }
                    }
                    Err(e) => stats.count_refusal(e),
                }
                result
            })
        }
        "DescribeTrainingJob" => input().and_then(|i| ep.jobs.lock().unwrap().describe(&i)),
        "ListTrainingJobs" => input().and_then(|i| ep.jobs.lock().unwrap().list(&i)),
        "StopTrainingJob" => input().and_then(|i| ep.jobs.lock().unwrap().stop(&i)),
        "ListTags" => {
            let i = match input() {
                Ok(i) => i,
                Err(e) => return Some(Err(e)),
            };
            let arn = i
                .get("ResourceArn")
                .and_then(|a| a.as_str())
                .unwrap_or_default();
            if !arn.contains(":training-job/") {
                return None;
            }
            ep.jobs.lock().unwrap().list_tags(arn)
        }
        _ => return None,
    };
    Some(result)
}

/// Binds a loopback listener on `port` (0 for any free port).
pub async fn bind_loopback(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn s3_object_urls_of_both_styles_name_their_object() {
        let uri = super::s3_uri_of;
        assert_eq!(
            uri("https://t1-templates.s3.eu-west-1.amazonaws.com/t1/template.yaml").as_deref(),
            Some("s3://t1-templates/t1/template.yaml")
        );
        assert_eq!(
            uri("https://s3.eu-west-1.amazonaws.com/b/k.yaml").as_deref(),
            Some("s3://b/k.yaml")
        );
        assert_eq!(
            uri("http://127.0.0.1:4567/artifacts/t/x.template").as_deref(),
            Some("s3://artifacts/t/x.template")
        );
        assert_eq!(uri("http://elsewhere/x"), None);
    }
}
