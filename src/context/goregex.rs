//! Translation of the Go (RE2, `regexp.Compile`) syntax that moby's pattern compiler emits into
//! the syntax of the `regex` crate, keeping Go's meaning.
//!
//! moby turns a pattern into a Go regular expression *text* and lets Go parse it. For ordinary
//! patterns both dialects agree, but they differ inside character classes (Go takes `[` literally,
//! Rust opens a nested class; Rust gives `&&`, `--`, `~~` set meanings) and in escapes (Go's `\d`,
//! `\s`, `\w`, `\b` are ASCII-only; Go has `\Q…\E` and `\p{^Greek}`; Rust's `\<` is a word
//! boundary). This module re-reads the text the way Go's parser does and writes an equivalent
//! Rust expression. Every literal is written as `\x{…}`, so no Rust metacharacter can leak in.

use std::fmt::Write as _;

/// Translates a Go regular expression (as produced by moby's `compile`) to `regex` syntax.
pub(crate) fn translate(go: &str) -> Result<String, String> {
    let mut out = String::with_capacity(go.len() * 2);
    let mut t = go;
    while let Some(c) = t.chars().next() {
        t = match c {
            '\\' => escape_outside(t, &mut out)?,
            '[' => class(t, &mut out)?,
            '^' | '$' | '.' | '*' | '+' | '?' | '(' | ')' | '|' => {
                out.push(c);
                &t[1..]
            }
            _ => {
                literal(&mut out, c);
                &t[c.len_utf8()..]
            }
        };
    }
    Ok(out)
}

/// Writes one literal character.
fn literal(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || c == '/' || c == '_' {
        out.push(c);
    } else {
        // Writing to a String cannot fail.
        let _ = write!(out, "\\x{{{:X}}}", u32::from(c));
    }
}

/// Go's Perl classes are ASCII-only; Rust's are Unicode. Returns the class body.
fn perl_class(c: char) -> Option<(&'static str, bool)> {
    match c {
        'd' => Some(("0-9", false)),
        'D' => Some(("0-9", true)),
        's' => Some((r"\t\n\f\r ", false)),
        'S' => Some((r"\t\n\f\r ", true)),
        'w' => Some(("0-9A-Za-z_", false)),
        'W' => Some(("0-9A-Za-z_", true)),
        _ => None,
    }
}

/// `t` starts with a backslash outside a class; returns the rest after the escape.
fn escape_outside<'a>(t: &'a str, out: &mut String) -> Result<&'a str, String> {
    let rest = &t[1..];
    let c = rest.chars().next().ok_or("trailing backslash at end of expression")?;
    let after = &rest[c.len_utf8()..];
    match c {
        'A' => out.push_str(r"\A"),
        'z' => out.push_str(r"\z"),
        'b' => out.push_str(r"(?-u:\b)"),
        'B' => out.push_str(r"(?-u:\B)"),
        'Q' => {
            let (quoted, rest) = match after.find(r"\E") {
                Some(i) => (&after[..i], &after[i + 2..]),
                None => (after, ""),
            };
            quoted.chars().for_each(|q| literal(out, q));
            return Ok(rest);
        }
        'p' | 'P' => {
            let (text, rest) = unicode_class(t)?;
            out.push_str(&text);
            return Ok(rest);
        }
        _ => {
            if let Some((body, negated)) = perl_class(c) {
                out.push_str(if negated { "[^" } else { "[" });
                out.push_str(body);
                out.push(']');
            } else {
                let (ch, rest) = single_escape(t)?;
                literal(out, ch);
                return Ok(rest);
            }
        }
    }
    Ok(after)
}

/// `t` starts with `\p` or `\P`: returns the Rust spelling and the rest.
fn unicode_class(t: &str) -> Result<(String, &str), String> {
    let negated = t.as_bytes().get(1) == Some(&b'P');
    let body = &t[2..];
    let (mut name, rest) = if let Some(inner) = body.strip_prefix('{') {
        let end = inner.find('}').ok_or("missing closing } in \\p{…}")?;
        (&inner[..end], &inner[end + 1..])
    } else {
        let c = body.chars().next().ok_or("missing name after \\p")?;
        (&body[..c.len_utf8()], &body[c.len_utf8()..])
    };
    let mut negated = negated;
    if let Some(n) = name.strip_prefix('^') {
        negated = !negated;
        name = n;
    }
    let letter = if negated { 'P' } else { 'p' };
    Ok((format!("\\{letter}{{{name}}}"), rest))
}

/// Go's `parseEscape`: one escaped character (`t` starts with the backslash).
fn single_escape(t: &str) -> Result<(char, &str), String> {
    let rest = &t[1..];
    let c = rest.chars().next().ok_or("trailing backslash at end of expression")?;
    let mut after = &rest[c.len_utf8()..];
    let code = match c {
        '1'..='7' if !after.starts_with(|d: char| ('0'..='7').contains(&d)) => {
            return Err(format!("invalid escape sequence \\{c} (backreferences are not supported)"));
        }
        '0'..='7' => {
            let mut v = u32::from(c) - u32::from('0');
            for _ in 0..2 {
                match after.chars().next() {
                    Some(d @ '0'..='7') => {
                        v = v * 8 + (u32::from(d) - u32::from('0'));
                        after = &after[1..];
                    }
                    _ => break,
                }
            }
            v
        }
        'x' => {
            let (digits, rest) = if let Some(inner) = after.strip_prefix('{') {
                let end = inner.find('}').ok_or("missing closing } in \\x{…}")?;
                (&inner[..end], &inner[end + 1..])
            } else if after.len() >= 2 && after.is_char_boundary(2) {
                (&after[..2], &after[2..])
            } else {
                return Err("invalid escape sequence \\x".into());
            };
            after = rest;
            if digits.is_empty() || !digits.chars().all(|d| d.is_ascii_hexdigit()) {
                return Err(format!("invalid escape sequence \\x{digits}"));
            }
            u32::from_str_radix(digits, 16).map_err(|_| format!("invalid escape sequence \\x{digits}"))?
        }
        'a' => 7,
        'f' => 12,
        'n' => 10,
        'r' => 13,
        't' => 9,
        'v' => 11,
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => u32::from(c),
        c => return Err(format!("invalid escape sequence \\{c}")),
    };
    let ch = char::from_u32(code).ok_or_else(|| format!("escape \\{c} is not a Unicode scalar value"))?;
    Ok((ch, after))
}

const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper", "word",
    "xdigit",
];

/// `t` starts with `[`: translates one Go character class and returns the rest.
fn class<'a>(t: &'a str, out: &mut String) -> Result<&'a str, String> {
    const MISSING: &str = "missing closing ] in character class";
    let mut s = &t[1..];
    out.push('[');
    if let Some(r) = s.strip_prefix('^') {
        out.push('^');
        s = r;
    }
    let mut first = true;
    loop {
        if s.is_empty() {
            return Err(MISSING.into());
        }
        if !first && s.starts_with(']') {
            out.push(']');
            return Ok(&s[1..]);
        }
        first = false;
        // POSIX classes such as [:alpha:] and [:^alpha:].
        if s.len() > 2 && s.starts_with("[:") {
            if let Some(end) = s[2..].find(":]") {
                let name = &s[2..2 + end];
                if !POSIX_CLASSES.contains(&name.strip_prefix('^').unwrap_or(name)) {
                    return Err(format!("invalid character class [:{name}:]"));
                }
                out.push_str(&s[..end + 4]);
                s = &s[end + 4..];
                continue;
            }
        }
        if s.starts_with(r"\p") || s.starts_with(r"\P") {
            let (text, rest) = unicode_class(s)?;
            out.push_str(&text);
            s = rest;
            continue;
        }
        if let Some((body, negated)) = s.strip_prefix('\\').and_then(|r| r.chars().next()).and_then(perl_class) {
            if negated {
                let _ = write!(out, "[^{body}]");
            } else {
                out.push_str(body);
            }
            s = &s[2..];
            continue;
        }
        let (lo, rest) = class_char(s)?;
        s = rest;
        let mut hi = lo;
        if s.len() >= 2 && s.starts_with('-') && !s[1..].starts_with(']') {
            let (h, rest) = class_char(&s[1..])?;
            if h < lo {
                return Err(format!("invalid character class range {lo}-{h}"));
            }
            hi = h;
            s = rest;
        }
        literal(out, lo);
        if hi != lo {
            out.push('-');
            literal(out, hi);
        }
    }
}

/// One (possibly escaped) character inside a class.
fn class_char(s: &str) -> Result<(char, &str), String> {
    match s.chars().next() {
        None => Err("missing closing ] in character class".into()),
        Some('\\') => single_escape(s),
        Some(c) => Ok((c, &s[c.len_utf8()..])),
    }
}

#[cfg(test)]
mod tests {
    use super::translate;
    use regex::Regex;

    fn is_match(go: &str, text: &str) -> bool {
        let rust = translate(go).expect("translates");
        Regex::new(&rust).expect("compiles").is_match(text)
    }

    #[test]
    fn go_class_treats_open_bracket_literally() {
        // moby turns the pattern "[*]" into "^[[^/]*]$": Go reads a class {[, ^, /} repeated, then "]".
        assert!(is_match("^[[^/]*]$", "]"));
        assert!(is_match("^[[^/]*]$", "[^/]"));
        assert!(!is_match("^[[^/]*]$", "*"));
        assert!(!is_match("^[[^/]*]$", "a]"));
    }

    #[test]
    fn perl_classes_are_ascii_only() {
        assert!(is_match(r"^\d$", "7"));
        assert!(!is_match(r"^\d$", "٣"));
        assert!(is_match(r"^\w+$", "a_Z9"));
        assert!(!is_match(r"^\w$", "é"));
        assert!(is_match(r"^[\d]$", "1"));
        assert!(is_match(r"^[\D]$", "x"));
    }

    #[test]
    fn escapes_and_set_operators_are_literal() {
        assert!(is_match(r"^a\<b$", "a<b"));
        assert!(is_match(r"^[a&&b]$", "&"));
        assert!(is_match(r"^[a~~b]$", "~"));
        assert!(is_match(r"^\Q.*\E$", ".*"));
        assert!(is_match(r"^\x41\101\x{42}$", "AAB"));
        assert!(is_match(r"^[]a]$", "]"));
        assert!(is_match(r"^[[:digit:]x]$", "5"));
        assert!(is_match(r"^\p{^Greek}$", "a"));
        assert!(!is_match(r"^\p{^Greek}$", "α"));
    }

    #[test]
    fn go_syntax_errors_are_errors() {
        for bad in [r"a\", r"\y", r"\1", "[a", "[z-a]", "[[:nope:]]", r"\é"] {
            assert!(translate(bad).is_err(), "{bad:?} should not translate");
        }
    }
}
