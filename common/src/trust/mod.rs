//! Trust on a shared queue: who may ask a registry for what. The sender's identity (SQS's
//! own `SenderId` attribute, never anything in the body) must be on the registry's allow-list
//! (and on the customer's, when the policy names one); a customer's data must live under the
//! registry's prefix for that customer. Everything here is configuration read once at cold
//! start ([`RegistryTrust`]) and pure checks over it.

mod policy;
mod scope;
mod senders;

pub use policy::{CustomerTrust, RegistryTrust};
pub use scope::DataScope;
pub use senders::{SENDER_FIELD, Senders, string_like};
