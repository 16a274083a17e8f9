//! AWS's own contract at the devstack's front door.
//!
//! moto and the local SageMaker endpoint accept calls that AWS refuses. Every request that
//! reaches the front door is first checked against AWS's published service model for that
//! API version (botocore's data, from the pinned moto install: [`models`]): required
//! members, lengths, patterns, ranges, enums, list and map sizes ([`shapes`]), then the
//! document sizes AWS states outside the model ([`limits`]). A violation is answered as AWS
//! answers it (HTTP 400, `ValidationException` and AWS's message) and counted
//! ([`ContractStats`]); only requests that pass go on to the endpoint or to moto.
//!
//! What is checked: every operation of a JSON-protocol service (SageMaker, DynamoDB, SQS,
//! EventBridge, Service Quotas, and any other) and of a query-protocol service
//! (CloudFormation — with the stack's parameters checked against its template —, IAM, STS).
//! REST requests (S3, Lambda) are forwarded and counted as unchecked, by service.
//!
//! A call signed with an access key bound to an identity ([`Contract::set_identity`]: the
//! function roles of the template) is also authorized against that identity's policies
//! ([`iam`]), with what the call implies (`iam:PassRole`, `sagemaker:AddTags`).

mod answer;
pub mod cloudformation;
pub mod iam;
pub mod limits;
pub mod models;
pub mod pattern;
pub mod query;
pub mod shapes;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use answer::Refusal;
use answer::{access_denied, json_refusal, violations_message, violations_refusal, xml_refusal};
pub use models::{ModelError, Models, ServiceModel};

/// How many refusals [`ContractStats::recent`] keeps.
const RECENT: usize = 50;

/// The models of this checkout's `.venv` (or `$TRAINQ_BOTOCORE_DATA`), indexed once per
/// process.
pub fn shared_models() -> Result<Arc<Models>, String> {
    static MODELS: OnceLock<Result<Arc<Models>, String>> = OnceLock::new();
    MODELS
        .get_or_init(|| {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            Models::locate(&workspace)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// Counters of the contract check, served by the control API (`GET /_devstack/stats`, under
/// `contract`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContractStats {
    /// Requests checked against a model.
    pub checked: u64,
    /// Requests refused (model or documented limits).
    pub refused: u64,
    /// Refusals by `service:Operation`.
    pub refused_by_operation: BTreeMap<String, u64>,
    /// Requests forwarded without a check, by service and why.
    pub unchecked: BTreeMap<String, u64>,
    /// Patterns that could not be applied (a defect of the translation, never expected).
    pub unapplied_patterns: BTreeMap<String, u64>,
    /// The latest refusals (`service:Operation: message`), newest last.
    pub recent: VecDeque<String>,
    /// Calls authorized against an identity's policies (signed with a key bound to one).
    pub authorized: u64,
}

/// What the check decided about one request.
#[derive(Debug)]
pub enum Verdict {
    /// Within the contract: forward it.
    Passed,
    /// Refused: answer this.
    Refused(Refusal),
    /// Not checked (protocol not covered): forward it, counted.
    Unchecked,
}

/// The contract check of one front door.
pub struct Contract {
    models: Arc<Models>,
    stats: Mutex<ContractStats>,
    identities: iam::Identities,
}

impl Contract {
    /// A check over `models`.
    pub fn new(models: Arc<Models>) -> Self {
        Self {
            models,
            stats: Mutex::new(ContractStats::default()),
            identities: iam::Identities::default(),
        }
    }

    /// Calls signed with `access_key` are made as `identity` and authorized against its
    /// policies from now on.
    pub fn set_identity(&self, access_key: &str, identity: iam::Identity) {
        self.identities.set(access_key, identity);
    }

    /// The counters so far.
    pub fn stats(&self) -> ContractStats {
        self.stats.lock().unwrap().clone()
    }

    /// Checks one HTTP request (its headers and body) against AWS's contract.
    pub fn check(&self, headers: &HeaderMap, body: &[u8]) -> Verdict {
        self.check_with_template(headers, body, None)
    }

    /// The `TemplateURL` of a CloudFormation call that names its template by URL only: the
    /// caller fetches it (from moto's S3) so [`check_with_template`](Self::check_with_template)
    /// can check the parameters against it, as CloudFormation does.
    pub fn template_url(&self, headers: &HeaderMap, body: &[u8]) -> Option<String> {
        let Route::Query { model } = self.route(headers) else {
            return None;
        };
        let request = query::QueryRequest::parse(body)?;
        (model.name == "cloudformation" && request.param("TemplateBody").is_none())
            .then(|| request.param("TemplateURL").map(str::to_owned))
            .flatten()
    }

    /// [`check`](Self::check), with the template a CloudFormation call named by URL.
    pub fn check_with_template(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        template: Option<&str>,
    ) -> Verdict {
        let caller = Caller::of(headers, &self.identities);
        match self.route(headers) {
            Route::Json { prefix, operation } => {
                self.check_json(&prefix, &operation, body, &caller)
            }
            Route::Query { model } => self.check_query(&model, body, &caller, template),
            Route::Other { service } => {
                self.count_unchecked(&service);
                Verdict::Unchecked
            }
        }
    }

    fn route(&self, headers: &HeaderMap) -> Route {
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
        if let Some((prefix, operation)) = target.and_then(|t| t.split_once('.')) {
            return Route::Json {
                prefix: prefix.to_owned(),
                operation: operation.to_owned(),
            };
        }
        let scope = CredentialScope::of(headers);
        let service = scope.as_ref().map_or("unsigned", |s| s.service.as_str());
        let model = self.models.by_signing_name(service).ok().flatten();
        if let Some(model) = model.as_ref().filter(|m| m.protocol == "query") {
            return Route::Query {
                model: Arc::clone(model),
            };
        }
        let protocol = model.map_or_else(|| "no model".to_owned(), |m| m.protocol.clone());
        Route::Other {
            service: format!("{service} ({protocol})"),
        }
    }

    fn check_json(&self, prefix: &str, operation: &str, body: &[u8], caller: &Caller) -> Verdict {
        let model = match self.models.by_target_prefix(prefix) {
            Ok(Some(model)) => model,
            Ok(None) => {
                return self.refuse(
                    prefix,
                    operation,
                    json_refusal(
                        None,
                        StatusCode::BAD_REQUEST,
                        "UnknownOperationException",
                        format!(
                            "no AWS service model has the target prefix `{prefix}` (models: {})",
                            self.models.root().display()
                        ),
                    ),
                );
            }
            Err(e) => {
                return self.refuse(
                    prefix,
                    operation,
                    json_refusal(
                        None,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalFailure",
                        e.to_string(),
                    ),
                );
            }
        };
        let service = model.name.clone();
        if !model.has_operation(operation) {
            let refusal = json_refusal(
                Some(&model),
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                format!(
                    "{service} has no operation `{operation}` in API version {}",
                    model.api_version
                ),
            );
            return self.refuse(&service, operation, refusal);
        }
        let input: Value = if body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => {
                    let refusal = json_refusal(
                        Some(&model),
                        StatusCode::BAD_REQUEST,
                        "SerializationException",
                        format!("Start of structure or map found where not expected: {e}"),
                    );
                    return self.refuse(&service, operation, refusal);
                }
            }
        };
        self.check_input(&model, operation, &input, caller, None)
    }

    fn check_query(
        &self,
        model: &ServiceModel,
        body: &[u8],
        caller: &Caller,
        template: Option<&str>,
    ) -> Verdict {
        let Some(request) = query::QueryRequest::parse(body) else {
            self.count_unchecked(&format!("{} (query without an Action)", model.name));
            return Verdict::Unchecked;
        };
        if !model.has_operation(&request.action) {
            let refusal = xml_refusal(
                model,
                "InvalidAction",
                format!(
                    "The action {} is not valid for this web service.",
                    request.action
                ),
            );
            return self.refuse(&model.name, &request.action, refusal);
        }
        if request
            .version
            .as_deref()
            .is_some_and(|v| v != model.api_version)
        {
            self.count_unchecked(&format!(
                "{} (API version {:?})",
                model.name, request.version
            ));
            return Verdict::Unchecked;
        }
        let input = request.input(model);
        self.check_input(model, &request.action, &input, caller, template)
    }

    /// The model's rules, then AWS's documented ones, then the caller's permissions, for a
    /// decoded input.
    fn check_input(
        &self,
        model: &ServiceModel,
        operation: &str,
        input: &Value,
        caller: &Caller,
        template: Option<&str>,
    ) -> Verdict {
        let service = model.name.as_str();
        let findings = shapes::check_input(model, operation, input);
        {
            let mut stats = self.stats.lock().unwrap();
            stats.checked += 1;
            for p in findings.unchecked {
                *stats.unapplied_patterns.entry(p).or_default() += 1;
            }
        }
        let documented = || match service {
            "cloudformation" => cloudformation::check(operation, input, template),
            _ => limits::check(service, operation, input),
        };
        let refusal = if model.protocol == "query" {
            violations_message(&findings.violations)
                .map(|(_, message)| xml_refusal(model, "ValidationError", message))
                .or_else(|| documented().map(|b| xml_refusal(model, b.code, b.message)))
        } else {
            violations_refusal(model, &findings.violations).or_else(|| {
                documented()
                    .map(|b| json_refusal(Some(model), StatusCode::BAD_REQUEST, b.code, b.message))
            })
        };
        let refusal = refusal.or_else(|| {
            let identity = caller.identity.as_ref()?;
            let scope = iam::Scope {
                region: &caller.region,
                account: ACCOUNT_ID,
            };
            let needed = iam::actions::required(service, operation, input, &scope);
            self.stats.lock().unwrap().authorized += 1;
            let message = iam::denial(identity, &needed)?;
            Some(access_denied(model, message))
        });
        match refusal {
            Some(refusal) => self.refuse(service, operation, refusal),
            None => Verdict::Passed,
        }
    }

    fn refuse(&self, service: &str, operation: &str, refusal: Refusal) -> Verdict {
        let key = format!("{service}:{operation}");
        tracing::warn!(operation = %key, code = %refusal.code, message = %refusal.message, "AWS would refuse this call");
        let mut stats = self.stats.lock().unwrap();
        stats.refused += 1;
        *stats.refused_by_operation.entry(key.clone()).or_default() += 1;
        if stats.recent.len() == RECENT {
            stats.recent.pop_front();
        }
        stats
            .recent
            .push_back(format!("{key}: {}: {}", refusal.code, refusal.message));
        Verdict::Refused(refusal)
    }

    fn count_unchecked(&self, service: &str) {
        *self
            .stats
            .lock()
            .unwrap()
            .unchecked
            .entry(service.to_owned())
            .or_default() += 1;
    }
}

/// The account the local stack's resources live in (moto's default).
pub const ACCOUNT_ID: &str = "123456789012";

/// A SigV4 signature's credential scope:
/// `Credential=<access key>/<date>/<region>/<service>/aws4_request`.
pub(crate) struct CredentialScope {
    /// The access key id.
    pub(crate) access_key: String,
    /// The region signed for.
    pub(crate) region: String,
    /// The service's signing name.
    pub(crate) service: String,
}

impl CredentialScope {
    /// The scope of a signed request; `None` when it is not signed.
    pub(crate) fn of(headers: &HeaderMap) -> Option<Self> {
        let credential = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .split("Credential=")
            .nth(1)?;
        let mut parts = credential.split(['/', ',']);
        Some(Self {
            access_key: parts.next()?.to_owned(),
            region: parts.nth(1)?.to_owned(),
            service: parts.next()?.to_owned(),
        })
    }

    /// The region of a request, `us-east-1` when it is not signed.
    pub(crate) fn region_of(headers: &HeaderMap) -> String {
        Self::of(headers).map_or_else(|| "us-east-1".to_owned(), |s| s.region)
    }
}

/// Who signed a request, and where.
struct Caller {
    identity: Option<iam::Identity>,
    region: String,
}

impl Caller {
    fn of(headers: &HeaderMap, identities: &iam::Identities) -> Self {
        match CredentialScope::of(headers) {
            Some(scope) => Self {
                identity: identities.get(&scope.access_key),
                region: scope.region,
            },
            None => Self {
                identity: None,
                region: "us-east-1".to_owned(),
            },
        }
    }
}

enum Route {
    Json { prefix: String, operation: String },
    Query { model: Arc<ServiceModel> },
    Other { service: String },
}

#[cfg(test)]
mod tests;
