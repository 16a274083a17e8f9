//! Digests that tell a true duplicate from a different request reusing an id: SHA-256 of the
//! request as validated, serialised canonically (fields in declaration order, maps sorted),
//! so the same request sent twice with other whitespace or key order has one digest.

use sha2::{Digest, Sha256};

use super::TrainingRequest;

/// `sha256:<hex>` of a validated request.
pub fn request_digest(request: &TrainingRequest) -> String {
    // Serialising a struct of strings, numbers and sorted maps cannot fail.
    let canonical = serde_json::to_vec(request).unwrap_or_default();
    sha256(&canonical)
}

/// `sha256:<hex>` of a raw message body (a rejected one has no canonical form).
pub fn body_digest(body: &str) -> String {
    sha256(body.as_bytes())
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// The SHA-256 of `bytes` in lowercase hex (64 digits).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::parse;
    use crate::testing::sample_request;

    #[test]
    fn the_same_request_in_other_words_has_one_digest_and_a_change_another() {
        let body = sample_request();
        let a = parse(&body.to_string()).unwrap();
        let pretty = serde_json::to_string_pretty(&body).unwrap();
        let b = parse(&pretty).unwrap();
        assert_eq!(request_digest(&a), request_digest(&b));
        assert_ne!(body_digest(&body.to_string()), body_digest(&pretty));
        let mut changed = body.clone();
        changed["hyperparameters"]["epochs"] = serde_json::json!("21");
        let c = parse(&changed.to_string()).unwrap();
        assert_ne!(request_digest(&a), request_digest(&c));
        assert!(request_digest(&a).starts_with("sha256:"));
        assert_eq!(request_digest(&a).len(), 7 + 64);
    }
}
