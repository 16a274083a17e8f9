//! Who is acting and when, for an operator's writes (`trainq jobs retry`, `cancel`): the
//! caller's AWS identity from STS `GetCallerIdentity` (not `$USER`, which anyone sets), and the
//! time by AWS's clock (the answer's `Date`), so a laptop whose clock is off does not move a
//! record back or forward in the by-state index the reconcile and the views read.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::date_time::{DateTime, Format};
use time::OffsetDateTime;
use trainq_common::time_util::to_rfc3339;

use crate::context::Context;
use crate::error::CliError;

/// Below this, the laptop's clock is as good as AWS's `Date` (which has whole seconds).
const SKEW_IGNORED_S: i64 = 2;

/// The caller, and AWS's clock as seen when it was identified.
#[derive(Debug, Clone)]
pub struct Operator {
    /// The caller's ARN (an IAM user's, or an assumed role's with its session name).
    pub arn: String,
    /// AWS's clock minus the local one, when it differs by more than [`SKEW_IGNORED_S`].
    skew: time::Duration,
}

impl Operator {
    /// Asks STS who signs this command's calls, and reads AWS's clock off the answer.
    pub async fn identify(ctx: &Context) -> Result<Self, CliError> {
        let date = ServerDate::default();
        let answer = aws_sdk_sts::Client::new(&ctx.sdk)
            .get_caller_identity()
            .customize()
            .interceptor(date.clone())
            .send()
            .await
            .map_err(|e| {
                crate::error::aws("who is calling (sts:GetCallerIdentity)", e)
                    .hint("the audit trail names the caller: check your AWS credentials")
            })?;
        let arn = answer
            .arn()
            .or(answer.user_id())
            .unwrap_or("an unnamed caller")
            .to_owned();
        let server = *date.0.lock().unwrap();
        Ok(Self {
            arn,
            skew: server.map_or(time::Duration::ZERO, |at| {
                skew(at, OffsetDateTime::now_utc())
            }),
        })
    }

    /// Now, by AWS's clock (RFC 3339, as the records keep times).
    pub fn now(&self) -> String {
        to_rfc3339(OffsetDateTime::now_utc() + self.skew)
    }
}

/// How far AWS's clock (`server`) is ahead of the local one (`local`), zero when too small to
/// tell from a `Date` header.
fn skew(server: OffsetDateTime, local: OffsetDateTime) -> time::Duration {
    let d = server - local;
    if d.whole_seconds().abs() <= SKEW_IGNORED_S {
        time::Duration::ZERO
    } else {
        d
    }
}

/// Keeps the `Date` of the answer it sees.
#[derive(Debug, Clone, Default)]
struct ServerDate(Arc<Mutex<Option<OffsetDateTime>>>);

impl Intercept for ServerDate {
    fn name(&self) -> &'static str {
        "ServerDate"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let date = context
            .response()
            .headers()
            .get("date")
            .and_then(|d| DateTime::from_str(d, Format::HttpDate).ok())
            .and_then(|d| OffsetDateTime::from_unix_timestamp(d.secs()).ok());
        *self.0.lock().unwrap() = date;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_clock_off_by_more_than_the_dates_precision_is_corrected() {
        let local = datetime!(2026-12-02 07:00:00 UTC);
        assert_eq!(
            skew(datetime!(2026-12-02 07:00:01 UTC), local),
            time::Duration::ZERO
        );
        assert_eq!(
            skew(datetime!(2026-12-02 07:05:00 UTC), local),
            time::Duration::minutes(5)
        );
        assert_eq!(
            skew(datetime!(2026-12-02 06:00:00 UTC), local),
            time::Duration::hours(-1)
        );
    }
}
