//! A registry's trust configuration: who may send its requests (and, per customer, who may
//! send that customer's), and where its customers' data may live.

use std::collections::BTreeMap;

use super::{DataScope, SENDER_FIELD, Senders};
use crate::config::ConfigError;
use crate::registry::RegistryKind;
use crate::request::RequestError;

/// Who may use a registry, and where its data may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryTrust {
    /// Principals allowed to send the registry's requests (`TRAINQ_<REGISTRY>_SENDERS`).
    pub senders: Senders,
    /// Where a customer's data may live inside the registry's buckets
    /// (`TRAINQ_<REGISTRY>_DATA_PREFIX`); `None` allows any key in them.
    pub data: Option<DataScope>,
    /// Per-customer narrowing (`customers` in `TRAINQ_<REGISTRY>_POLICY`).
    pub customers: BTreeMap<String, CustomerTrust>,
}

/// What one customer's requests must also satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomerTrust {
    /// When set, the sender must be on this list as well as on the registry's.
    pub senders: Option<Senders>,
}

impl RegistryTrust {
    /// Builds the trust of a registry from its variables' values.
    pub(crate) fn new(
        senders: Senders,
        data: Option<DataScope>,
        customers: BTreeMap<String, Vec<String>>,
        policy_variable: &str,
    ) -> Result<Self, ConfigError> {
        let customers = customers
            .into_iter()
            .map(|(name, list)| {
                let senders = Senders::from_patterns(
                    &format!("{policy_variable} (customers.{name}.senders)"),
                    list,
                )?;
                Ok((
                    name,
                    CustomerTrust {
                        senders: Some(senders),
                    },
                ))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Self {
            senders,
            data,
            customers,
        })
    }

    /// Whether `sender` may send `customer`'s requests to the `registry` registry. The error
    /// names the sender and the registry (not who else is allowed: that is for the on-call
    /// view, not for whoever tried).
    pub fn check_sender(
        &self,
        registry: RegistryKind,
        customer: &str,
        sender: Option<&str>,
    ) -> Result<(), RequestError> {
        let Some(sender) = sender.filter(|s| !s.is_empty()) else {
            return Err(RequestError::new(
                SENDER_FIELD,
                format!(
                    "the message carries no SenderId, so nobody can vouch for it; the {registry} registry accepts only its allowed senders"
                ),
            ));
        };
        let shown = crate::request::shorten(sender);
        if !self.senders.allows(sender) {
            return Err(RequestError::new(
                SENDER_FIELD,
                format!("`{shown}` may not send requests to the {registry} registry"),
            ));
        }
        let customer_list = self
            .customers
            .get(customer)
            .and_then(|c| c.senders.as_ref());
        if let Some(list) = customer_list
            && !list.allows(sender)
        {
            return Err(RequestError::new(
                SENDER_FIELD,
                format!(
                    "`{shown}` may not send requests for customer `{customer}` to the {registry} registry"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust() -> RegistryTrust {
        let customers = BTreeMap::from([("acme".to_owned(), vec!["AROABACKEND:acme-*".into()])]);
        RegistryTrust::new(
            Senders::parse("S", "AROABACKEND:*, AIDAONCALL").unwrap(),
            None,
            customers,
            "P",
        )
        .unwrap()
    }

    #[test]
    fn the_sender_not_the_body_decides() {
        let t = trust();
        let p = RegistryKind::Production;
        assert!(
            t.check_sender(p, "globex", Some("AROABACKEND:globex-7"))
                .is_ok()
        );
        assert!(t.check_sender(p, "globex", Some("AIDAONCALL")).is_ok());
        let e = t
            .check_sender(p, "globex", Some("AROARESEARCH:alice"))
            .unwrap_err();
        assert_eq!(e.field, "(sender)");
        assert_eq!(
            e.rule,
            "`AROARESEARCH:alice` may not send requests to the production registry"
        );
        let e = t.check_sender(p, "globex", None).unwrap_err();
        assert!(e.rule.contains("no SenderId"), "{e}");
    }

    #[test]
    fn a_customer_list_narrows_the_registrys() {
        let t = trust();
        let p = RegistryKind::Production;
        assert!(
            t.check_sender(p, "acme", Some("AROABACKEND:acme-1"))
                .is_ok()
        );
        let e = t
            .check_sender(p, "acme", Some("AROABACKEND:globex-1"))
            .unwrap_err();
        assert!(e.rule.contains("for customer `acme`"), "{e}");
        let e = t.check_sender(p, "acme", Some("AIDAONCALL")).unwrap_err();
        assert!(e.rule.contains("for customer `acme`"), "{e}");
    }
}
