//! Small syntax checks shared by the validators.

use super::RequestError;

/// A lowercase slug: `[a-z0-9]` and inner single hyphens, 1..=`max` chars. Slugs end up in
/// S3 keys, tags and model package group names, so they are kept to what all of those accept.
pub(super) fn check_slug(field: &str, value: &str, max: usize) -> Result<(), RequestError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--");
    if ok {
        Ok(())
    } else {
        Err(RequestError::new(
            field,
            format!(
                "must be 1-{max} characters of a-z, 0-9 and single inner hyphens (got `{}`)",
                shorten(value)
            ),
        ))
    }
}

/// A label of 1..=`max` characters drawn from `[A-Za-z0-9._:=-]` plus any of `extra`.
pub(super) fn check_label(
    field: &str,
    value: &str,
    max: usize,
    extra: &[u8],
) -> Result<(), RequestError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:=-".contains(&b) || extra.contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RequestError::new(
            field,
            format!(
                "must be 1-{max} characters of A-Z, a-z, 0-9 and `._:=-{}` (got `{}`)",
                String::from_utf8_lossy(extra),
                shorten(value)
            ),
        ))
    }
}

/// A value quoted in an error, cut so one bad field cannot flood a log line or a record.
pub(crate) fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    if value.len() <= MAX {
        return value.to_owned();
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_lowercase_digits_and_inner_hyphens() {
        assert!(check_slug("customer", "acme-2", 32).is_ok());
        for bad in [
            "",
            "Acme",
            "-acme",
            "acme-",
            "ac--me",
            "ac_me",
            &"a".repeat(33),
        ] {
            let e = check_slug("customer", bad, 32).expect_err(bad);
            assert_eq!(e.field, "customer");
        }
    }

    #[test]
    fn labels_accept_their_alphabet_only() {
        assert!(check_label("dataset.version", "2026-11-20-a", 128, b"").is_ok());
        assert!(check_label("dataset.version", "a b", 128, b"").is_err());
        assert!(check_label("experiment.trial", "lr 0.1", 128, b" ").is_ok());
    }

    #[test]
    fn shorten_cuts_on_a_char_boundary() {
        let long = "é".repeat(100);
        let s = shorten(&long);
        assert!(s.ends_with('…'));
        assert!(s.len() <= 84);
    }
}
