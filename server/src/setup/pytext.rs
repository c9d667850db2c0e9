//! Reading a few literal values out of Python source without running it (`master.cfg`,
//! `buildbot.tac`): comments removed, string literals read, bracketed expressions matched, and a
//! module-level `NAME = literal` followed once. Anything that is not a plain literal is reported
//! as computed, never evaluated: `bbctl-agent init` must not execute the operator's config.

/// A value as written in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyValue {
    Int(u64),
    Str(String),
    /// A bare name (`WWW_PORT`), possibly a module-level constant.
    Name(String),
    /// Anything else (an f-string, a call, a subscript, an expression): the source text, cut short.
    Computed(String),
}

/// `text` without `#` comments (strings are kept whole, so a `#` inside one stays).
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    // The open string's quote and whether it is triple-quoted.
    let mut open: Option<(char, bool)> = None;
    while let Some(c) = chars.next() {
        match open {
            None if c == '#' => {
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            None if c == '\'' || c == '"' => {
                out.push(c);
                let triple = chars.peek() == Some(&c) && {
                    let rest: String = chars.clone().take(2).collect();
                    rest == format!("{c}{c}")
                };
                if triple {
                    out.push(chars.next().unwrap_or(c));
                    out.push(chars.next().unwrap_or(c));
                } else if chars.peek() == Some(&c) {
                    // An empty string: both quotes and done.
                    out.push(chars.next().unwrap_or(c));
                    continue;
                }
                open = Some((c, triple));
            }
            None => out.push(c),
            Some((q, triple)) => {
                out.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else if c == '\n' && !triple {
                    // An unterminated one-line string: give up on it at the line's end.
                    open = None;
                } else if c == q {
                    if !triple {
                        open = None;
                    } else if chars.clone().take(2).all(|n| n == q) {
                        out.push(chars.next().unwrap_or(q));
                        out.push(chars.next().unwrap_or(q));
                        open = None;
                    }
                }
            }
        }
    }
    out
}

/// The string literal at the start of `s` (after an optional `r`/`u`/`b`/`f` prefix): its value
/// and the bytes it takes. `None` when `s` does not start with one. An f-string with a `{…}`
/// is `Some((None, len))`: a string, but not a literal value.
pub fn string_literal(s: &str) -> Option<(Option<String>, usize)> {
    let prefix_len = s
        .bytes()
        .take(2)
        .take_while(|b| b"rRuUbBfF".contains(b))
        .count();
    let prefix = &s[..prefix_len];
    let body = &s[prefix_len..];
    let q = body.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let raw = prefix.contains(['r', 'R']);
    let fstring = prefix.contains(['f', 'F']);
    let triple_quote: String = std::iter::repeat_n(q, 3).collect();
    let (delim, start) = if body.starts_with(&triple_quote) {
        (triple_quote.as_str(), 3)
    } else {
        (&body[..1], 1)
    };
    let mut value = String::new();
    let mut i = start;
    while i < body.len() {
        if body[i..].starts_with(delim) {
            let len = prefix_len + i + delim.len();
            let literal = !(fstring && value.contains('{'));
            return Some((literal.then_some(value), len));
        }
        let c = body[i..].chars().next()?;
        if c == '\\' && i + 1 < body.len() {
            let n = body[i + 1..].chars().next()?;
            if raw {
                value.push('\\');
                value.push(n);
            } else {
                value.push(match n {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
            }
            i += 1 + n.len_utf8();
            continue;
        }
        if c == '\n' && delim.len() == 1 {
            return None;
        }
        value.push(c);
        i += c.len_utf8();
    }
    None
}

/// The text inside the brackets that open `s` (`(`, `[` or `{`), up to the matching close;
/// strings are skipped so that a bracket inside one does not count.
pub fn bracketed(s: &str) -> Option<&str> {
    let open = s.chars().next()?;
    if !matches!(open, '(' | '[' | '{') {
        return None;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let c = rest.chars().next()?;
        match c {
            '\'' | '"' => {
                let (_, len) = string_literal(rest)?;
                i += len;
                continue;
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[1..i]);
                }
            }
            _ => {}
        }
        i += c.len_utf8();
    }
    None
}

/// The value that starts `s`: a literal when it is followed by nothing but a delimiter (`,`,
/// a closing bracket, the line's end), else [`PyValue::Computed`].
pub fn value_at(s: &str) -> PyValue {
    let s = s.trim_start_matches([' ', '\t']);
    let (value, len) = if let Some((lit, len)) = string_literal(s) {
        match lit {
            Some(v) => (PyValue::Str(v), len),
            None => return computed(s),
        }
    } else {
        let len = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        let word = &s[..len];
        if word.is_empty() {
            return computed(s);
        }
        if word.bytes().all(|b| b.is_ascii_digit()) {
            match word.parse() {
                Ok(n) => (PyValue::Int(n), len),
                Err(_) => return computed(s),
            }
        } else if word.as_bytes()[0].is_ascii_digit() {
            return computed(s);
        } else {
            (PyValue::Name(word.to_owned()), len)
        }
    };
    let after = s[len..].trim_start_matches([' ', '\t', '\r']);
    match after.chars().next() {
        None | Some(',' | ')' | ']' | '}' | '\n' | ';') => value,
        Some(_) => computed(s),
    }
}

/// The expression that starts `s`, as far as its line goes, without the closing brackets and
/// commas of what encloses it.
fn computed(s: &str) -> PyValue {
    let mut line = s.lines().next().unwrap_or("").trim();
    loop {
        let unbalanced = |open: char, close: char| {
            line.ends_with(close) && line.matches(close).count() > line.matches(open).count()
        };
        if line.ends_with([',', ' ', ';'])
            || unbalanced('(', ')')
            || unbalanced('[', ']')
            || unbalanced('{', '}')
        {
            line = &line[..line.len() - 1];
        } else {
            break;
        }
    }
    PyValue::Computed(line.chars().take(60).collect())
}

/// The value of a module-level `NAME = …` (at the start of a line; the last one wins, as in
/// Python), not followed further.
pub fn module_constant(text: &str, name: &str) -> Option<PyValue> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        if let Some(value) = rest.strip_prefix('=')
            && !value.starts_with('=')
        {
            found = Some(value_at(value));
        }
    }
    found
}

/// [`value_at`], with a bare name followed to its module-level constant once.
pub fn resolved_value_at(text: &str, s: &str) -> PyValue {
    match value_at(s) {
        PyValue::Name(name) => match module_constant(text, &name) {
            Some(v @ (PyValue::Int(_) | PyValue::Str(_))) => v,
            _ => PyValue::Computed(name),
        },
        other => other,
    }
}

/// Whether the byte before `at` in `text` cannot be part of an identifier (so that `port` in
/// `pb_port` or `report` is not taken for `port`).
pub fn word_starts(text: &str, at: usize) -> bool {
    at == 0 || !text.as_bytes()[at - 1].is_ascii_alphanumeric() && text.as_bytes()[at - 1] != b'_'
}

/// The text after `=` when `s` (trimmed) is an assignment `= …` rather than a comparison.
pub fn after_assign(s: &str) -> Option<&str> {
    let s = s.trim_start_matches([' ', '\t']);
    let rest = s.strip_prefix('=')?;
    (!rest.starts_with('=')).then_some(rest.trim_start_matches([' ', '\t']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_go_and_strings_stay() {
        let text = "a = 1  # port=9\nb = '#not' # x\n\"\"\"doc # kept\n\"\"\"\nc = ''# gone\n";
        assert_eq!(
            strip_comments(text),
            "a = 1  \nb = '#not' \n\"\"\"doc # kept\n\"\"\"\nc = ''\n"
        );
    }

    #[test]
    fn literals_and_what_is_not_one() {
        assert_eq!(string_literal("'a\\'b' x"), Some((Some("a'b".into()), 6)));
        assert_eq!(
            string_literal("r\"c:\\d\""),
            Some((Some("c:\\d".into()), 7))
        );
        assert_eq!(string_literal("f\"tcp:{p}\""), Some((None, 10)));
        assert_eq!(
            string_literal("f\"plain\"").unwrap().0.as_deref(),
            Some("plain")
        );
        assert_eq!(string_literal("x'"), None);
        assert_eq!(value_at(" 8010,"), PyValue::Int(8010));
        assert_eq!(value_at("\"tcp:8010\" }"), PyValue::Str("tcp:8010".into()));
        assert_eq!(value_at("PORT\n"), PyValue::Name("PORT".into()));
        assert_eq!(
            value_at("LOCAL['www_port'],"),
            PyValue::Computed("LOCAL['www_port']".into())
        );
        assert_eq!(
            value_at("'http://' + host"),
            PyValue::Computed("'http://' + host".into())
        );
    }

    #[test]
    fn brackets_match_across_strings() {
        assert_eq!(bracketed("dict(a=')', b=(1))x"), None);
        assert_eq!(bracketed("(a=')', b=(1))x"), Some("a=')', b=(1)"));
        assert_eq!(bracketed("{'k': {'n': 1}} tail"), Some("'k': {'n': 1}"));
    }

    #[test]
    fn module_constants_are_followed_once() {
        let text = "PORT = 8011\nURL = 'http://h:1/'\nX == 3\nY = PORT\n";
        assert_eq!(resolved_value_at(text, "PORT)"), PyValue::Int(8011));
        assert_eq!(
            resolved_value_at(text, "URL,"),
            PyValue::Str("http://h:1/".into())
        );
        assert_eq!(resolved_value_at(text, "Y,"), PyValue::Computed("Y".into()));
        assert_eq!(module_constant(text, "X"), None);
    }
}
