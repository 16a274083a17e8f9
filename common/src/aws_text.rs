//! Free text made acceptable to AWS where its models restrict characters.
//!
//! SageMaker's tag values and `CustomerMetadataProperties` must match
//! `[\p{L}\p{Z}\p{N}_.:/=+\-@]*` (letters, separators, digits and `_.:/=+-@`): no comma,
//! quote, backtick, semicolon or `≥`. Descriptions (`EntityDescription`) allow letters,
//! marks, separators, symbols, digits and punctuation, but no control characters. AWS refuses
//! the whole call otherwise, so trainq shapes its text here rather than lose a registration.
//! Lengths are counted as AWS counts them, in UTF-16 code units.

use std::sync::OnceLock;

use regex::Regex;

/// A character a tag value or metadata value may not hold.
fn not_in_tag_class() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"[^\p{L}\p{Z}\p{N}_.:/=+\-@]+").expect("a valid class"))
}

/// A character a description may not hold.
fn not_in_description_class() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"[^\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]+").expect("a valid class"))
}

/// `text` as a tag or metadata value AWS accepts: every run of other characters becomes one
/// space, spaces are trimmed, and the result is cut to `max` UTF-16 units. `None` when nothing
/// is left (AWS refuses an empty metadata value).
pub fn tag_value(text: &str, max: usize) -> Option<String> {
    let replaced = not_in_tag_class().replace_all(text, " ");
    let collapsed = replaced
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let cut = cut_utf16(&collapsed, max);
    (!cut.is_empty()).then_some(cut)
}

/// `text` as a description AWS accepts: control characters (line breaks, tabs) become spaces,
/// and the result is cut to `max` UTF-16 units.
pub fn description(text: &str, max: usize) -> String {
    cut_utf16(&not_in_description_class().replace_all(text, " "), max)
}

/// The longest prefix of `text` of at most `max` UTF-16 code units.
pub fn cut_utf16(text: &str, max: usize) -> String {
    let mut used = 0;
    text.chars()
        .take_while(|c| {
            used += c.len_utf16();
            used <= max
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_keep_what_aws_accepts_and_space_the_rest() {
        assert_eq!(
            tag_value("lr=0.001,bs=32", 256).as_deref(),
            Some("lr=0.001 bs=32")
        );
        assert_eq!(
            tag_value(
                "`validation:accuracy` = 0.9 is below the gate's minimum ≥ 0.95",
                256
            )
            .as_deref(),
            Some("validation:accuracy = 0.9 is below the gate s minimum 0.95")
        );
        assert_eq!(
            tag_value("ünï cödé 東京 @x/y", 256).as_deref(),
            Some("ünï cödé 東京 @x/y")
        );
        assert_eq!(tag_value("`;'", 256), None);
    }

    #[test]
    fn lengths_are_counted_in_utf16_units() {
        assert_eq!(cut_utf16("a😀b", 2), "a");
        assert_eq!(cut_utf16("a😀b", 3), "a😀");
        assert_eq!(tag_value(&"x".repeat(300), 256).unwrap().len(), 256);
    }

    #[test]
    fn descriptions_lose_control_characters_only() {
        assert_eq!(
            description("held: `acc` ≥ 0.95; it's\nlow", 1024),
            "held: `acc` ≥ 0.95; it's low"
        );
    }
}
