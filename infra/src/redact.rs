//! Redaction of credentials in log lines. Requests are written by other services and people,
//! and a rejection reason quotes the value it refuses; a token pasted into the wrong field must
//! not end up in CloudWatch Logs. Every log line goes through [`redact`] before it is written.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// The patterns, each with whether its first group is kept (the key before a secret value).
fn patterns() -> &'static [(Regex, bool)] {
    static PATTERNS: OnceLock<Vec<(Regex, bool)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            // AWS access key ids (long-term and temporary).
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA)[A-Z0-9]{16}\b",
            // The value of a secret-named key, in JSON (`"token": "…"`, escaped or not) or
            // `key=value` form.
            r#"(?i)((?:secret|token|password|passwd|credential|api[_-]?key|private[_-]?key)[a-z0-9_\-]*\\?"?\s*[:=]\s*\\?"?)[^"\\\s,}&`')]{4,}"#,
            // 40-character AWS secret access keys.
            r"\b[A-Za-z0-9/+]{40}\b",
            // Bearer tokens and JWTs.
            r"\beyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\b",
        ]
        .iter()
        // Constants, all compiled in the tests below; a broken one is left out, never a panic.
        .filter_map(|p| Regex::new(p).ok().map(|re| (re, p.contains("[:=]"))))
        .collect()
    })
}

/// `line` with every credential it contains replaced by [`REDACTED`].
pub fn redact(line: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(line);
    for (re, keeps_key) in patterns() {
        if re.is_match(&out) {
            let replaced = if *keeps_key {
                re.replace_all(&out, format!("${{1}}{REDACTED}").as_str())
                    .into_owned()
            } else {
                re.replace_all(&out, REDACTED).into_owned()
            };
            out = Cow::Owned(replaced);
        }
    }
    out
}

/// A writer that redacts what passes through it (one formatted log line per write).
pub struct Redacting<W>(pub W);

impl<W: std::io::Write> std::io::Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_and_ordinary_text_is_not() {
        assert_eq!(patterns().len(), 4, "every pattern compiles");
        let cases = [
            (
                "key AKIAIOSFODNN7EXAMPLE in a reason",
                "key [redacted] in a reason",
            ),
            (
                r#"{"aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}"#,
                r#"{"aws_secret_access_key": "[redacted]"}"#,
            ),
            (
                r#"(got `api_token=s3cr3t-value`)"#,
                r#"(got `api_token=[redacted]`)"#,
            ),
            (
                r#"\"password\": \"hunter22\""#,
                r#"\"password\": \"[redacted]\""#,
            ),
            (
                "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.abcdefghijkl",
                "Bearer [redacted]",
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(redact(line), expected, "{line}");
        }
        let ordinary = r#"{"fields":{"message":"launched","job_name":"tq-5b0c0f4e6a774c2a9d550a6f3c1b2e10-1"},"span":{"request_id":"5b0c0f4e-6a77-4c2a-9d55-0a6f3c1b2e10"}}"#;
        assert_eq!(redact(ordinary), ordinary);
        assert_eq!(
            redact("`resources.max_wait_s`: must be ≥ max_runtime_s"),
            "`resources.max_wait_s`: must be ≥ max_runtime_s"
        );
    }
}
