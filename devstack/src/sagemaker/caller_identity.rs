//! STS `GetCallerIdentity`, as AWS answers it for the local stack's principals. moto answers
//! every key with one fixed user; the CLI records the caller's identity in the audit trail
//! (`trainq jobs retry`, `cancel`), so the front door answers for the principals devstack.json
//! names, with the same user ids SQS reports as `SenderId` (see [`super::sender_ids`]).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::contract::{ACCOUNT_ID, CredentialScope};

/// Whether a call is STS `GetCallerIdentity` (query protocol: the action is in the form body).
pub(super) fn is_get_caller_identity(headers: &HeaderMap, body: &[u8]) -> bool {
    CredentialScope::of(headers).is_some_and(|s| s.service == "sts")
        && form_urlencoded::parse(body).any(|(k, v)| k == "Action" && v == "GetCallerIdentity")
}

/// The ARN AWS reports for a user id: a role session's (`AROA…:<session>`) is an assumed-role
/// ARN, any other a user's. The access key stands for the role or user name.
pub(super) fn arn_of(access_key: &str, user_id: &str) -> String {
    match user_id.split_once(':') {
        Some((_, session)) => {
            format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{access_key}/{session}")
        }
        None => format!("arn:aws:iam::{ACCOUNT_ID}:user/{access_key}"),
    }
}

/// The answer, in STS's XML, dated by a clock `clock_offset_s` ahead of this machine's.
pub(super) fn answer(access_key: &str, user_id: &str, clock_offset_s: i64) -> Response {
    let xml = format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <GetCallerIdentityResult><Arn>{}</Arn><UserId>{}</UserId><Account>{ACCOUNT_ID}</Account>\
         </GetCallerIdentityResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata>\
         </GetCallerIdentityResponse>",
        escape(&arn_of(access_key, user_id)),
        escape(user_id),
        uuid::Uuid::new_v4(),
    );
    let date = http_date(OffsetDateTime::now_utc() + time::Duration::seconds(clock_offset_s));
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"))],
        xml,
    )
        .into_response();
    if let Ok(date) = HeaderValue::from_str(&date) {
        response.headers_mut().insert(header::DATE, date);
    }
    response
}

/// An HTTP date (IMF-fixdate), as AWS's answers carry in `Date`.
fn http_date(t: OffsetDateTime) -> String {
    const IMF: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(IMF).unwrap_or_default()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_sessions_are_assumed_roles_and_users_are_users() {
        assert_eq!(
            arn_of("backend", "AROADEVSTACKBACKEND:backend"),
            "arn:aws:sts::123456789012:assumed-role/backend/backend"
        );
        assert_eq!(
            arn_of("devstack", "AIDADEVSTACKONCALL"),
            "arn:aws:iam::123456789012:user/devstack"
        );
    }

    #[test]
    fn dates_are_imf_fixdates() {
        let t = time::macros::datetime!(2026-12-02 07:05:09 UTC);
        assert_eq!(http_date(t), "Wed, 02 Dec 2026 07:05:09 GMT");
    }

    #[test]
    fn only_sts_get_caller_identity_is_answered() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=devstack/20261202/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=x",
            ),
        );
        let body = b"Action=GetCallerIdentity&Version=2011-06-15";
        assert!(is_get_caller_identity(&headers, body));
        assert!(!is_get_caller_identity(&headers, b"Action=AssumeRole"));
        assert!(!is_get_caller_identity(&HeaderMap::new(), body));
    }
}
