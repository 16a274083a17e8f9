//! Allow-lists of senders. An entry is an IAM `StringLike` pattern over the caller's user id,
//! which is what SQS reports as a message's `SenderId` and what IAM calls `aws:userid`:
//! `AROAEXAMPLEROLEID:*` is any session of a role, `AROAEXAMPLEROLEID:ci` one session,
//! `AIDAEXAMPLEUSERID` an IAM user. The same strings go into the requests queue's policy
//! (a `Deny` of `sqs:SendMessage` unless `aws:userid` is like one of them), so the queue
//! refuses what the dispatcher would reject, and both read one list.

use crate::config::ConfigError;

/// The pseudo-field a refused sender is reported under (a request's fields are dotted paths).
pub const SENDER_FIELD: &str = "(sender)";

/// Longest pattern accepted: a role id (21) + `:` + a session name (≤ 64), with room.
const MAX_PATTERN: usize = 128;

/// The principals allowed to send requests (for a registry, or for one of its customers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Senders {
    patterns: Vec<String>,
}

impl Senders {
    /// Parses a comma-separated list; `variable` names where it came from in errors. A list
    /// that would allow anyone (`*`) is refused: name the principals.
    pub fn parse(variable: &str, text: &str) -> Result<Self, ConfigError> {
        let patterns: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        Self::from_patterns(variable, patterns)
    }

    /// Checks patterns given one by one (from a JSON policy).
    pub fn from_patterns(variable: &str, patterns: Vec<String>) -> Result<Self, ConfigError> {
        if patterns.is_empty() {
            return Err(ConfigError::new(
                variable,
                "must name at least one sender (an IAM role id such as `AROAEXAMPLE:*` or a user id)",
            ));
        }
        for p in &patterns {
            let allowed = |c: char| c.is_ascii_alphanumeric() || ":@._=,+-*?".contains(c);
            if p.len() > MAX_PATTERN || !p.chars().all(allowed) {
                return Err(ConfigError::new(
                    variable,
                    format!(
                        "`{p}` is not a sender id pattern (1–{MAX_PATTERN} of `A-Za-z0-9:@._=,+-` and the wildcards `*`, `?`)"
                    ),
                ));
            }
            if p.chars().all(|c| "*?:".contains(c)) {
                return Err(ConfigError::new(
                    variable,
                    format!("`{p}` would allow every sender; name the principals"),
                ));
            }
        }
        Ok(Self { patterns })
    }

    /// Whether `sender` (a `SenderId`) matches an entry.
    pub fn allows(&self, sender: &str) -> bool {
        self.patterns.iter().any(|p| string_like(p, sender))
    }

    /// The entries, as configured.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// IAM's `StringLike`: `*` matches any run of characters (none included), `?` exactly one;
/// everything else matches itself, case-sensitively. (The local front door's IAM check uses
/// it too.)
pub fn string_like(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Greedy with one backtrack point: linear for the patterns allow-lists use.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn senders(text: &str) -> Senders {
        Senders::parse("V", text).unwrap()
    }

    #[test]
    fn a_role_pattern_allows_its_sessions_and_nobody_else() {
        let s = senders("AROAPRODBACKEND:*, AIDAONCALL");
        assert!(s.allows("AROAPRODBACKEND:backend"));
        assert!(s.allows("AROAPRODBACKEND:"));
        assert!(s.allows("AIDAONCALL"));
        assert!(
            !s.allows("AROAPRODBACKEND"),
            "a role id without a session is not a sender"
        );
        assert!(!s.allows("AROAPRODBACKENDX:backend"));
        assert!(!s.allows("AIDAONCALL2"));
        assert!(
            !s.allows("aroaprodbackend:backend"),
            "ids are case-sensitive"
        );
        assert!(!s.allows(""));
    }

    #[test]
    fn wildcards_follow_iams_string_like() {
        assert!(string_like("A*C", "ABBBC"));
        assert!(string_like("A*C", "AC"));
        assert!(!string_like("A*C", "ACB"));
        assert!(string_like("A?C", "ABC"));
        assert!(!string_like("A?C", "AC"));
        assert!(string_like("*:ci-*", "AROAX:ci-42"));
        assert!(string_like("A*B*C", "AxxBxxBxC"));
        assert!(string_like("*", ""));
        assert!(string_like("arn:*:s3:::b/*", "arn:aws:s3:::b/k/x"));
        assert!(!string_like("arn:*:s3:::b", "arn:aws:s3:::bb"));
    }

    #[test]
    fn lists_that_allow_everyone_or_nothing_are_refused() {
        for bad in ["", " , ", "*", "*:*", "AROA X:*", "arn:aws:iam::1:role/x"] {
            let e = Senders::parse("TRAINQ_PRODUCTION_SENDERS", bad).unwrap_err();
            assert_eq!(e.variable, "TRAINQ_PRODUCTION_SENDERS", "{bad}: {e}");
        }
    }
}
