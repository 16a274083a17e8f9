//! IAM at the front door: calls signed with an access key the front door knows are made as
//! that key's identity, and each is authorized against the identity's policies (the function
//! roles of the template, as deployed) before it goes on. A denied call is answered as AWS
//! answers it (`AccessDeniedException`, naming the principal, the action and the resource).
//! Calls signed with any other key are not authorized here (the harness's own calls, and the
//! emulated services').

pub mod actions;
pub mod policy;

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

pub use actions::Scope;
pub use policy::{Authorization, Decision};

/// Who calls with a key, and what its policies allow.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The caller as AWS names it in a denial
    /// (`arn:aws:sts::123456789012:assumed-role/t-dispatcher/trainq-dispatcher`).
    pub principal: String,
    /// The role's policy documents.
    pub policies: Vec<Value>,
}

/// Access key id → identity.
#[derive(Default)]
pub struct Identities {
    by_key: Mutex<HashMap<String, Identity>>,
}

impl Identities {
    /// Calls signed with `access_key` are made as `identity` from now on.
    pub fn set(&self, access_key: &str, identity: Identity) {
        self.by_key
            .lock()
            .unwrap()
            .insert(access_key.to_owned(), identity);
    }

    /// The identity of `access_key`, if the front door knows it.
    pub fn get(&self, access_key: &str) -> Option<Identity> {
        self.by_key.lock().unwrap().get(access_key).cloned()
    }
}

/// The first authorization `identity` lacks for a call, with AWS's message; `None` if allowed.
pub fn denial(identity: &Identity, needed: &[Authorization]) -> Option<String> {
    needed.iter().find_map(|q| {
        let why = match policy::evaluate(&identity.policies, q) {
            Decision::Allowed => return None,
            Decision::ExplicitDeny => {
                "with an explicit deny in an identity-based policy".to_owned()
            }
            Decision::ImplicitDeny => {
                format!(
                    "because no identity-based policy allows the {} action",
                    q.action
                )
            }
        };
        Some(format!(
            "User: {} is not authorized to perform: {} on resource: {} {why}",
            identity.principal, q.action, q.resource
        ))
    })
}
