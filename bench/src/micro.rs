//! Figure 7: the criterion estimates `cargo bench -p trainq-common` left under
//! `target/criterion/`.

use std::path::Path;

use serde_json::Value;

/// (benchmark, mean in ns) for every benchmark criterion has results for, by name.
pub(crate) fn estimates(criterion_dir: &Path) -> Vec<(String, f64)> {
    let Ok(entries) = std::fs::read_dir(criterion_dir) else {
        return Vec::new();
    };
    let read = |path: &Path| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    };
    let mut found: Vec<(String, f64)> = entries
        .flatten()
        .filter_map(|entry| {
            let new = entry.path().join("new");
            let name = read(&new.join("benchmark.json"))?["full_id"]
                .as_str()?
                .to_owned();
            let mean = read(&new.join("estimates.json"))?["mean"]["point_estimate"].as_f64()?;
            Some((name, mean))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}
