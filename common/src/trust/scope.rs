//! Where a customer's data may live: a key prefix inside the registry's buckets, written with
//! the placeholders `{customer}` and `{project}` (e.g. `{customer}/` or
//! `customers/{customer}/{project}/`). A channel outside it is refused, so customer `acme`
//! cannot train on `globex`'s images even in a bucket both may use.

use crate::config::ConfigError;

/// A key-prefix template for a registry's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataScope {
    template: String,
}

impl DataScope {
    /// Parses the template. It must name `{customer}` and end with `/`, so a customer's
    /// prefix can never be the start of another's (`acme/` is not a prefix of `acme-2/`).
    pub fn parse(variable: &str, template: &str) -> Result<Self, ConfigError> {
        let template = template.trim().trim_start_matches('/');
        let refuse = |why: &str| {
            Err(ConfigError::new(
                variable,
                format!("`{template}` {why} (e.g. `{{customer}}/`)"),
            ))
        };
        if !template.contains("{customer}") {
            return refuse("must contain `{customer}`");
        }
        if !template.ends_with('/') {
            return refuse("must end with `/`");
        }
        let rest = template.replace("{customer}", "").replace("{project}", "");
        if rest.contains(['{', '}']) {
            return refuse("knows only the placeholders `{customer}` and `{project}`");
        }
        Ok(Self {
            template: template.to_owned(),
        })
    }

    /// The template as configured.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The key prefix of `customer`'s `project`.
    pub fn prefix(&self, customer: &str, project: &str) -> String {
        self.template
            .replace("{customer}", customer)
            .replace("{project}", project)
    }

    /// Whether `key` (an S3 key, without the bucket) lies inside the prefix. A key with a
    /// `..` segment is never inside: S3 keeps it literally, but a tool that normalises paths
    /// would read another customer's data.
    pub fn contains(&self, customer: &str, project: &str, key: &str) -> bool {
        let prefix = self.prefix(customer, project);
        let climbs = key.split('/').any(|segment| segment == "..");
        !climbs && key.starts_with(&prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_reads_only_under_its_own_prefix() {
        let scope = DataScope::parse("V", "{customer}/").unwrap();
        assert!(scope.contains("acme", "p", "acme/train/"));
        assert!(scope.contains("acme", "p", "acme/2026/train/x.png"));
        assert!(!scope.contains("acme", "p", "globex/train/"));
        assert!(!scope.contains("acme", "p", "acme-2/train/"));
        assert!(!scope.contains("acme", "p", "acme"));
        assert!(!scope.contains("acme", "p", "acme/../globex/"));
        assert!(!scope.contains("acme", "p", "acme/x/.."));
        assert!(
            scope.contains("acme", "p", "acme//x/"),
            "S3 keys may hold empty segments"
        );
        let by_project = DataScope::parse("V", "customers/{customer}/{project}/").unwrap();
        assert!(by_project.contains("acme", "scratch", "customers/acme/scratch/v1/"));
        assert!(!by_project.contains("acme", "scratch", "customers/acme/dent/v1/"));
    }

    #[test]
    fn templates_that_would_leak_are_refused() {
        for bad in ["data/", "{customer}", "{customer}/{bucket}/", ""] {
            let e = DataScope::parse("TRAINQ_PRODUCTION_DATA_PREFIX", bad).unwrap_err();
            assert_eq!(e.variable, "TRAINQ_PRODUCTION_DATA_PREFIX", "{bad}");
        }
        assert_eq!(
            DataScope::parse("V", "/{customer}/").unwrap().template(),
            "{customer}/"
        );
    }
}
