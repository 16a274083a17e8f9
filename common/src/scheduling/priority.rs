//! Priority classes: configuration names them in order, highest first, as `registry` or
//! `registry:reason` (default `production:data_shift, production, research`). A request's
//! class is the first that matches it; it may ask for a lower class, never a higher one.

use thiserror::Error;

use crate::registry::RegistryKind;
use crate::request::Reason;

/// The default order: production data-shift retrains first, other production, then research.
pub const DEFAULT_CLASSES: &str = "production:data_shift, production, research";

/// Why a class list cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PriorityError {
    /// An entry names no known registry or reason.
    #[error("`{0}` is not `registry` or `registry:reason` (registries: production, research)")]
    Unknown(String),
    /// A registry has no class its requests fall into.
    #[error("no class takes `{0}` requests: add `{0}`")]
    Uncovered(&'static str),
}

/// One class: a registry, and a reason within it (any reason when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    registry: RegistryKind,
    reason: Option<Reason>,
}

/// The configured classes, highest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityClasses {
    classes: Vec<Class>,
}

impl PriorityClasses {
    /// Parses `production:data_shift, production, research`.
    pub fn parse(list: &str) -> Result<Self, PriorityError> {
        let classes = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                let unknown = || PriorityError::Unknown(entry.to_owned());
                let (registry, reason) = match entry.split_once(':') {
                    Some((r, why)) => (r, Some(why)),
                    None => (entry, None),
                };
                let registry: RegistryKind =
                    serde_json::from_value(serde_json::Value::from(registry))
                        .map_err(|_| unknown())?;
                let reason = reason
                    .map(|r| serde_json::from_value::<Reason>(serde_json::Value::from(r)))
                    .transpose()
                    .map_err(|_| unknown())?;
                Ok(Class { registry, reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for registry in [RegistryKind::Production, RegistryKind::Research] {
            if !classes
                .iter()
                .any(|c| c.registry == registry && c.reason.is_none())
            {
                return Err(PriorityError::Uncovered(registry.as_str()));
            }
        }
        Ok(Self { classes })
    }

    /// The class rank of a request (0 is the highest): the first class that matches its
    /// registry and reason, or `asked` if the request asked for a lower (larger) rank.
    pub fn rank(&self, registry: RegistryKind, reason: Reason, asked: Option<u32>) -> u32 {
        let ceiling = self
            .classes
            .iter()
            .position(|c| c.registry == registry && c.reason.is_none_or(|r| r == reason))
            .unwrap_or(self.classes.len()) as u32;
        asked.map_or(ceiling, |a| a.clamp(ceiling, self.lowest()))
    }

    /// The name of class `rank` as configuration writes it (`production:data_shift`).
    pub fn label(&self, rank: u32) -> String {
        let Some(class) = self.classes.get(rank as usize) else {
            return format!("class {rank}");
        };
        match class.reason {
            Some(reason) => {
                let reason = serde_json::to_value(reason).unwrap_or_default();
                format!(
                    "{}:{}",
                    class.registry.as_str(),
                    reason.as_str().unwrap_or("?")
                )
            }
            None => class.registry.as_str().to_owned(),
        }
    }

    /// The lowest rank.
    pub fn lowest(&self) -> u32 {
        self.classes.len().saturating_sub(1) as u32
    }
}

impl Default for PriorityClasses {
    fn default() -> Self {
        Self::parse(DEFAULT_CLASSES).expect("the default classes parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_puts_production_retrains_first_and_research_last() {
        let c = PriorityClasses::default();
        let labels: Vec<String> = (0..=c.lowest()).map(|r| c.label(r)).collect();
        assert_eq!(labels, ["production:data_shift", "production", "research"]);
        assert_eq!(c.rank(RegistryKind::Production, Reason::DataShift, None), 0);
        assert_eq!(c.rank(RegistryKind::Production, Reason::Manual, None), 1);
        assert_eq!(c.rank(RegistryKind::Research, Reason::Experiment, None), 2);
    }

    #[test]
    fn a_request_may_lower_its_class_never_raise_it() {
        let c = PriorityClasses::default();
        assert_eq!(
            c.rank(RegistryKind::Production, Reason::DataShift, Some(2)),
            2
        );
        assert_eq!(
            c.rank(RegistryKind::Research, Reason::Experiment, Some(0)),
            2
        );
        assert_eq!(
            c.rank(RegistryKind::Production, Reason::Scheduled, Some(9)),
            2
        );
    }

    #[test]
    fn a_list_that_leaves_a_registry_out_or_names_nonsense_is_refused() {
        assert_eq!(
            PriorityClasses::parse("production").unwrap_err(),
            PriorityError::Uncovered("research")
        );
        assert!(matches!(
            PriorityClasses::parse("production:typo, production, research"),
            Err(PriorityError::Unknown(e)) if e == "production:typo"
        ));
        let flat = PriorityClasses::parse("research, production").unwrap();
        assert_eq!(
            flat.rank(RegistryKind::Research, Reason::Experiment, None),
            0
        );
    }
}
