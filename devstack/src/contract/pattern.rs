//! The models' regular expressions are Java's (`java.util.regex`), applied to the whole value
//! (`Matcher.matches()`). This module translates them to `fancy_regex` (which adds the
//! look-arounds the models use to the `regex` crate) and keeps each compiled once.
//!
//! What differs and is translated: `.` (Java's stops at `\r`, U+0085, U+2028 and U+2029
//! too), `\uXXXX` escapes (surrogate pairs become the code point
//! they encode), Java's POSIX classes (`\p{Alnum}`, `\p{Print}`, ASCII in Java),
//! `\d \w \s` (ASCII in Java, Unicode in Rust), and a quantifier on an anchor (`${1,256}`,
//! which Java accepts and means `$`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A compiled pattern, or why it did not compile.
pub type Compiled = Result<Arc<fancy_regex::Regex>, String>;

/// Whether `value` matches `pattern` as a whole; `Err` when the pattern cannot be used.
pub fn full_match(pattern: &str, value: &str) -> Result<bool, String> {
    let regex = compile(pattern)?;
    regex
        .is_match(value)
        .map_err(|e| format!("pattern `{pattern}`: {e}"))
}

/// The compiled form of a model pattern (cached for the life of the process).
pub fn compile(pattern: &str) -> Compiled {
    static CACHE: OnceLock<Mutex<HashMap<String, Compiled>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap().get(pattern) {
        return c.clone();
    }
    let translated = format!("^(?:{})$", translate(pattern));
    let compiled = fancy_regex::RegexBuilder::new(&translated)
        .backtrack_limit(1_000_000)
        // Unicode classes repeated up to 1,024 times (`[\p{L}…]{0,1024}`) outgrow the
        // default NFA budget.
        .delegate_size_limit(256 << 20)
        .build()
        .map(Arc::new)
        .map_err(|e| format!("pattern `{pattern}` (as `{translated}`): {e}"));
    cache
        .lock()
        .unwrap()
        .insert(pattern.to_owned(), compiled.clone());
    compiled
}

/// Java regex syntax → Rust (`fancy_regex`) syntax, for the constructs the models use.
pub fn translate(java: &str) -> String {
    let chars: Vec<char> = java.chars().collect();
    let mut out = String::with_capacity(java.len() + 16);
    let mut class: Option<ClassState> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let (text, used, single) = escape(&chars[i + 1..], class.is_some());
            out.push_str(&text);
            i += 1 + used;
            if let Some(state) = class.as_mut() {
                state.atom(single);
            }
            continue;
        }
        match (&mut class, c) {
            (None, '[') => {
                class = Some(ClassState::default());
                out.push('[');
                // `^` negates; a `]` right after the opening bracket is literal in both dialects.
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
            }
            (Some(_), ']') => {
                class = None;
                out.push(']');
            }
            (Some(state), '-') => {
                // A range operator between two single characters; literal anywhere else
                // (first, last, after a range), which Rust wants escaped.
                let next = chars.get(i + 1);
                if state.can_start_range && next.is_some_and(|n| *n != ']') {
                    state.in_range = true;
                    state.can_start_range = false;
                    out.push('-');
                } else {
                    out.push_str("\\-");
                    state.atom(true);
                }
            }
            (Some(state), _) => {
                out.push(c);
                state.atom(true);
            }
            // Java's `.` stops at every line terminator, Rust's only at `\n`.
            (None, '.') => out.push_str(r"[^\n\r\x{85}\x{2028}\x{2029}]"),
            (None, '$' | '^') => {
                out.push(c);
                // Java accepts a quantifier on an anchor; it changes nothing.
                if let Some(skip) = quantifier_len(&chars[i + 1..]) {
                    i += skip;
                }
            }
            (None, _) => out.push(c),
        }
        i += 1;
    }
    out
}

/// Where a character class is: whether the last atom may start a range, and whether a range
/// operator waits for its end.
#[derive(Default)]
struct ClassState {
    can_start_range: bool,
    in_range: bool,
}

impl ClassState {
    /// An atom was written: a single character (`single`) or a set such as `\p{L}`.
    fn atom(&mut self, single: bool) {
        // The end of a range cannot start another.
        self.can_start_range = single && !self.in_range;
        self.in_range = false;
    }
}

/// The translation of the escape after a `\\` (`rest` starts after it), how many characters
/// it used, and whether it stands for a single character.
fn escape(rest: &[char], in_class: bool) -> (String, usize, bool) {
    let next = rest[0];
    let set = |contents: &str, negate: bool| -> String {
        match (in_class, negate) {
            (true, false) => contents.to_owned(),
            (_, true) => format!("[^{contents}]"),
            (false, false) => format!("[{contents}]"),
        }
    };
    match next {
        'u' => match unicode_escape(&rest[1..]) {
            (Some(cp), used) => (format!("\\x{{{cp:X}}}"), 1 + used, true),
            (None, _) => ("\\u".to_owned(), 1, true),
        },
        'p' | 'P' if rest.get(1) == Some(&'{') => {
            let end = rest.iter().position(|&c| c == '}');
            let name: String = end.map(|e| rest[2..e].iter().collect()).unwrap_or_default();
            match (posix_class(&name), end) {
                (Some(contents), Some(e)) => (set(contents, next == 'P'), e + 1, false),
                // A Unicode class (`\p{L}`): the same in Rust.
                (None, Some(e)) => (
                    format!("\\{}", rest[..=e].iter().collect::<String>()),
                    e + 1,
                    false,
                ),
                _ => (format!("\\{next}"), 1, false),
            }
        }
        'd' => (set("0-9", false), 1, false),
        'w' => (set("a-zA-Z_0-9", false), 1, false),
        's' => (set(" \\t\\n\\x0B\\x0C\\r", false), 1, false),
        'D' => (set("0-9", true), 1, false),
        'W' => (set("a-zA-Z_0-9", true), 1, false),
        'S' => (set(" \\t\\n\\x0B\\x0C\\r", true), 1, false),
        'b' | 'B' | 'A' | 'z' | 'Z' | 'G' => (format!("\\{next}"), 1, false),
        other => (format!("\\{other}"), 1, true),
    }
}

/// Four hex digits after `\u`, and the low half when they are a high surrogate.
fn unicode_escape(rest: &[char]) -> (Option<u32>, usize) {
    let hex = |s: &[char]| -> Option<u32> {
        if s.len() < 4 {
            return None;
        }
        u32::from_str_radix(&s[..4].iter().collect::<String>(), 16).ok()
    };
    let Some(high) = hex(rest) else {
        return (None, 0);
    };
    if (0xD800..0xDC00).contains(&high)
        && rest.get(4) == Some(&'\\')
        && rest.get(5) == Some(&'u')
        && let Some(low) = hex(&rest[6..]).filter(|l| (0xDC00..0xE000).contains(l))
    {
        return (Some(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)), 10);
    }
    // A lone surrogate cannot occur in a Rust string: the nearest scalar value stands in.
    let cp = match high {
        0xD800..=0xDBFF => 0xD7FF,
        0xDC00..=0xDFFF => 0xE000,
        other => other,
    };
    (Some(cp), 4)
}

/// Java's POSIX-style classes (ASCII only in Java), as class contents.
fn posix_class(name: &str) -> Option<&'static str> {
    Some(match name {
        "Alnum" => "a-zA-Z0-9",
        "Alpha" => "a-zA-Z",
        "Digit" => "0-9",
        "Lower" => "a-z",
        "Upper" => "A-Z",
        "Punct" => "!-/:-@\\[-`{-~",
        "Graph" => "!-~",
        "Print" => " -~",
        "Blank" => " \\t",
        "Space" => " \\t\\n\\x0B\\x0C\\r",
        "XDigit" => "0-9a-fA-F",
        "Cntrl" => "\\x00-\\x1F\\x7F",
        "ASCII" => "\\x00-\\x7F",
        _ => return None,
    })
}

/// The length of a quantifier (`*`, `+`, `?`, `{n,m}`) at the start of `rest`.
fn quantifier_len(rest: &[char]) -> Option<usize> {
    match rest.first()? {
        '*' | '+' | '?' => Some(1),
        '{' => {
            let end = rest.iter().position(|&c| c == '}')?;
            rest[1..end]
                .iter()
                .all(|c| c.is_ascii_digit() || *c == ',')
                .then_some(end + 1)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_values() {
        assert!(full_match("[a-zA-Z0-9-]+", "tq-abc").unwrap());
        assert!(!full_match("[a-zA-Z0-9-]+", "tq abc").unwrap());
        assert!(!full_match(".+", "").unwrap());
        for terminator in ["a\nb", "a\rb", "a\u{85}b", "a\u{2028}b", "a\u{2029}b"] {
            assert!(!full_match(".*", terminator).unwrap(), "{terminator:?}");
        }
        assert!(full_match(".*", "tab\tand 😀").unwrap());
    }

    #[test]
    fn customer_metadata_values_refuse_what_aws_refuses() {
        let p = r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}";
        assert!(full_match(p, "lr=0.001 epochs:20 ünïcode").unwrap());
        for bad in ["a,b", "`x`", "it's", "a;b", "≥ 0.95", "line\nbreak"] {
            assert!(!full_match(p, bad).unwrap(), "{bad}");
        }
    }

    #[test]
    fn java_escapes_and_classes_translate() {
        let xml = r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*";
        assert!(full_match(xml, "text 😀 ok\n").unwrap());
        assert!(!full_match(xml, "bell\u{7}").unwrap());
        assert!(full_match(r"arn:[\p{Alnum}\-]+:lambda:.*", "arn:aws-cn:lambda:x").unwrap());
        assert!(!full_match(r"\p{Print}+", "tab\t").unwrap());
        assert!(!full_match(r"\w+", "é").unwrap(), "Java's \\w is ASCII");
        assert!(full_match(r"(?!^[.-])^([a-zA-Z0-9-_.]+)", "a-b_c.d").unwrap());
        assert!(!full_match(r"(?!^[.-])^([a-zA-Z0-9-_.]+)", "-a").unwrap());
        assert!(full_match(r"([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)", "abc").unwrap());
        assert!(!full_match(r"([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)", "abc-").unwrap());
        let stack = r"([a-zA-Z][-a-zA-Z0-9]*)|(arn:\b(aws|aws-us-gov|aws-cn)\b:[-a-zA-Z0-9:/._+]*)";
        assert!(full_match(stack, "trainq-test").unwrap());
        assert!(full_match(stack, "arn:aws:cloudformation:x/y").unwrap());
        assert!(!full_match(stack, "1-digit").unwrap());
        assert!(
            full_match(r"[!#$%&'*+-.^_`|~0-9a-zA-Z]+", "a+,.b").unwrap(),
            "`+-.` is a range"
        );
        assert!(!full_match(r"[\w-]+", "a b").unwrap());
        assert!(full_match(r"[\w-]+", "a-b_c").unwrap());
    }
}
