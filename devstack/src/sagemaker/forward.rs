//! Forwarding of the operations the endpoint does not answer itself to moto.

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Forwards requests unchanged (method, path, headers, body) to moto.
pub(super) struct Forwarder {
    client: reqwest::Client,
    base: String,
}

impl Forwarder {
    pub(super) fn new(moto_url: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: moto_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Forwards a request and answers with moto's answer, unchanged.
    pub(super) async fn forward(&self, parts: Parts, body: Bytes) -> Response {
        match self.fetch(parts, body).await {
            Ok((status, headers, bytes)) => respond(status, &headers, bytes),
            Err(response) => response,
        }
    }

    /// Forwards a request and returns moto's answer to be looked at (or the error response
    /// when moto cannot be reached).
    pub(super) async fn fetch(
        &self,
        parts: Parts,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), Response> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = self
            .client
            .request(parts.method.clone(), format!("{}{path}", self.base));
        for (name, value) in &parts.headers {
            if name != header::HOST && name != header::CONTENT_LENGTH {
                request = request.header(name, value);
            }
        }
        let answer = request.body(body).send().await.map_err(|e| {
            (StatusCode::BAD_GATEWAY, format!("moto unreachable: {e}")).into_response()
        })?;
        let status = answer.status();
        let headers = answer.headers().clone();
        let bytes = answer.bytes().await.unwrap_or_default();
        Ok((status, headers, bytes))
    }
}

/// An answer with moto's status and headers (less those the server sets itself).
pub(super) fn respond(status: StatusCode, headers: &HeaderMap, bytes: Bytes) -> Response {
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in headers {
        if name != header::TRANSFER_ENCODING
            && name != header::CONTENT_LENGTH
            && name != header::CONNECTION
        {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}
