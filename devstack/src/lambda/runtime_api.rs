//! A local Lambda Runtime API: the HTTP interface a Lambda function's runtime polls for its
//! next invocation and answers. The shipped function binaries run against it unchanged
//! (`AWS_LAMBDA_RUNTIME_API` points here), one invocation at a time, as one Lambda instance.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

type Reply = oneshot::Sender<Result<Bytes, String>>;

struct Pending {
    id: String,
    payload: Bytes,
    reply: Reply,
}

struct Shared {
    function_arn: String,
    timeout: Duration,
    next: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    in_flight: Mutex<HashMap<String, Reply>>,
    /// When the function first asked for an invocation: the end of its cold start.
    first_poll: tokio::sync::watch::Sender<Option<Instant>>,
}

/// One function's Runtime API.
pub struct RuntimeApi {
    addr: SocketAddr,
    queue: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Serves the Runtime API for `function_name` on a free loopback port; invocations time
    /// out after `timeout` (the function's configured timeout).
    pub async fn spawn(
        function_name: &str,
        region: &str,
        timeout: Duration,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let (queue, next) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            function_arn: format!("arn:aws:lambda:{region}:123456789012:function:{function_name}"),
            timeout,
            next: tokio::sync::Mutex::new(next),
            in_flight: Mutex::new(HashMap::new()),
            first_poll: tokio::sync::watch::Sender::new(None),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "runtime API stopped");
            }
        });
        Ok(Self {
            addr,
            queue,
            shared,
            task,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Invokes the function with `payload` and waits for its answer (or error, or timeout).
    pub async fn invoke(&self, payload: &serde_json::Value) -> Result<serde_json::Value, String> {
        let (reply, answer) = oneshot::channel();
        let id = uuid::Uuid::new_v4().to_string();
        let pending = Pending {
            id: id.clone(),
            payload: Bytes::from(payload.to_string()),
            reply,
        };
        self.queue
            .send(pending)
            .await
            .map_err(|_| "the runtime API is gone".to_owned())?;
        match tokio::time::timeout(self.shared.timeout, answer).await {
            Ok(Ok(Ok(body))) => {
                serde_json::from_slice(&body).map_err(|e| format!("unreadable response: {e}"))
            }
            Ok(Ok(Err(error))) => Err(error),
            Ok(Err(_)) => Err("the function instance went away mid-invocation".into()),
            Err(_) => {
                self.shared.in_flight.lock().unwrap().remove(&id);
                Err(format!("timed out after {:?}", self.shared.timeout))
            }
        }
    }

    /// Waits (at most `deadline`) until the function first asks for an invocation, the
    /// moment its initialisation is over, and returns that moment.
    pub async fn ready(&self, deadline: Duration) -> Option<Instant> {
        let mut first_poll = self.shared.first_poll.subscribe();
        let ready = first_poll.wait_for(Option::is_some);
        match tokio::time::timeout(deadline, ready).await {
            Ok(Ok(at)) => *at,
            _ => None,
        }
    }

    /// Fails the invocations the (now dead) function process had taken.
    pub fn fail_in_flight(&self, why: &str) {
        for (_, reply) in self.shared.in_flight.lock().unwrap().drain() {
            let _ = reply.send(Err(why.to_owned()));
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn next_invocation(State(shared): State<Arc<Shared>>) -> Response {
    shared.first_poll.send_if_modified(|at| {
        let first = at.is_none();
        if first {
            *at = Some(Instant::now());
        }
        first
    });
    let pending = shared.next.lock().await.recv().await;
    let Some(Pending { id, payload, reply }) = pending else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    shared.in_flight.lock().unwrap().insert(id.clone(), reply);
    let deadline = trainq_common::time_util::now_epoch_ms()
        + i64::try_from(shared.timeout.as_millis()).unwrap_or(i64::MAX);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", &id);
    put("lambda-runtime-deadline-ms", &deadline.to_string());
    put("lambda-runtime-invoked-function-arn", &shared.function_arn);
    put("lambda-runtime-trace-id", &format!("Root=1-{id}"));
    put("content-type", "application/json");
    (StatusCode::OK, headers, payload).into_response()
}

async fn respond(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    answer(&shared, &id, Ok(body))
}

async fn fail(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    answer(
        &shared,
        &id,
        Err(String::from_utf8_lossy(&body).into_owned()),
    )
}

fn answer(shared: &Shared, id: &str, result: Result<Bytes, String>) -> Response {
    match shared.in_flight.lock().unwrap().remove(id) {
        Some(reply) => {
            let _ = reply.send(result);
            StatusCode::ACCEPTED.into_response()
        }
        None => (StatusCode::NOT_FOUND, "unknown or expired invocation").into_response(),
    }
}

async fn init_error(body: Bytes) -> Response {
    tracing::error!(error = %String::from_utf8_lossy(&body), "function failed to initialise");
    StatusCode::ACCEPTED.into_response()
}
