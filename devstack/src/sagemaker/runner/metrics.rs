//! Metrics from the training log, as SageMaker extracts them: each metric definition's regex
//! is tried on every log line, its first group is the value, and the last value is final.

use std::collections::BTreeMap;

use regex::Regex;

/// Applies a job's metric definitions to its log lines.
pub(super) struct MetricParser {
    definitions: Vec<(String, Regex)>,
    last: BTreeMap<String, f64>,
}

impl MetricParser {
    /// A parser for `(name, regex)` definitions; a regex that does not compile is skipped with
    /// a warning (SageMaker would have refused the job).
    pub(super) fn new(definitions: &[(String, String)]) -> Self {
        let definitions = definitions
            .iter()
            .filter_map(|(name, re)| match Regex::new(re) {
                Ok(re) => Some((name.clone(), re)),
                Err(e) => {
                    tracing::warn!(metric = %name, error = %e, "metric regex does not compile");
                    None
                }
            })
            .collect();
        Self {
            definitions,
            last: BTreeMap::new(),
        }
    }

    /// Reads one log line.
    pub(super) fn observe(&mut self, line: &str) {
        for (name, re) in &self.definitions {
            let value = re
                .captures(line)
                .and_then(|c| c.get(1))
                .and_then(|m| m.as_str().parse::<f64>().ok());
            if let Some(v) = value.filter(|v| v.is_finite()) {
                self.last.insert(name.clone(), v);
            }
        }
    }

    /// The final value of every metric seen.
    pub(super) fn finals(&self) -> Vec<(String, f64)> {
        self.last.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_value_of_each_metric_is_final() {
        let mut p = MetricParser::new(&[
            (
                "validation:accuracy".into(),
                r"validation:accuracy=([-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)".into(),
            ),
            ("f1".into(), r"F1: ([0-9.]+)".into()),
            ("broken".into(), "(".into()),
        ]);
        for line in [
            "epoch=1 validation:accuracy=0.5",
            "noise",
            "epoch=2 validation:accuracy=9.1e-1 F1: 0.7",
        ] {
            p.observe(line);
        }
        assert_eq!(
            p.finals(),
            [("f1".into(), 0.7), ("validation:accuracy".into(), 0.91)]
        );
    }
}
