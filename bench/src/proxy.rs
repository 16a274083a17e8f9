//! A loopback HTTP proxy in front of an AWS endpoint that adds a fixed delay to every call
//! (a stand-in for the network between Lambda and AWS) and counts the calls by operation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

struct Shared {
    upstream: String,
    delay: Mutex<Duration>,
    calls: Mutex<BTreeMap<String, u64>>,
    http: reqwest::Client,
}

/// A running proxy.
pub(crate) struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Proxies `upstream` (`http://host:port`) on a free loopback port.
    pub(crate) async fn spawn(upstream: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            delay: Mutex::new(Duration::ZERO),
            calls: Mutex::new(BTreeMap::new()),
            http: reqwest::Client::new(),
        });
        let app = Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the delay added to every call from now on.
    pub(crate) fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    /// The calls counted since the last call of this method, by operation (and resets them).
    pub(crate) fn take_calls(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.shared.calls.lock().unwrap())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The operation a request calls: the JSON protocols' `X-Amz-Target` (`DynamoDB_20120810.PutItem`
/// → `PutItem`), else the query protocol's `Action`, else method and path.
fn operation(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let form = String::from_utf8_lossy(body);
    if let Some(action) = form.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return action.to_owned();
    }
    format!("{method} {}", uri.path())
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = *shared.delay.lock().unwrap();
    *shared
        .calls
        .lock()
        .unwrap()
        .entry(operation(&method, &uri, &headers, &body))
        .or_default() += 1;
    tokio::time::sleep(delay).await;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = shared
        .http
        .request(method, format!("{}{path}", shared.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let mut headers = answer.headers().clone();
            headers.remove("content-length");
            headers.remove("transfer-encoding");
            match answer.bytes().await {
                Ok(body) => (status, headers, body).into_response(),
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
            }
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
