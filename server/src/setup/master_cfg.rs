//! What a master's `master.cfg` says about the settings `bbctl-agent init` writes, read as text
//! (the config is never executed): the www port (`c['www'] = dict(port=8010)`,
//! `{"port": "tcp:8010:interface=127.0.0.1"}`, `c['www']['port'] = …`), `buildbotURL` and
//! Buildbot's database URL (`c['db'] = {'db_url': …}`, `c['db_url'] = …`). A bare name is
//! followed to its module-level constant once; anything computed is reported as such.

use super::pytext::{
    PyValue, after_assign, bracketed, resolved_value_at, string_literal, strip_comments,
    word_starts,
};

/// What the text says about one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    /// Not mentioned.
    Absent,
    /// A literal; `form` is how it was written, to tell the operator (`port=8010`).
    Found { value: T, form: String },
    /// Set, but not to a literal: the expression, cut short.
    Computed(String),
}

/// The www service's port as master.cfg gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WwwPort {
    pub port: u16,
    /// `interface=` of a `tcp:` port string.
    pub interface: Option<String>,
    /// An `ssl:` port string: the www speaks HTTPS.
    pub tls: bool,
}

/// The facts of one master.cfg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CfgFacts {
    pub www: Lookup<WwwPort>,
    pub buildbot_url: Lookup<String>,
    pub db_url: Lookup<String>,
}

/// Reads `text` (a master.cfg).
pub fn read(text: &str) -> CfgFacts {
    let text = strip_comments(text);
    CfgFacts {
        www: www_port(&text),
        buildbot_url: buildbot_url(&text),
        db_url: db_url(&text),
    }
}

/// The config file `buildbot.tac` names (`configfile = 'master.cfg'`, what `buildbot
/// create-master` writes); `None` when it names none as a literal.
pub fn configfile(tac: &str) -> Option<String> {
    match super::pytext::module_constant(&strip_comments(tac), "configfile")? {
        PyValue::Str(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// The text after each `['key']` / `["key"]` in `text`.
fn after_key<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    for quote in ['\'', '"'] {
        let pattern = format!("[{quote}{key}{quote}]");
        found.extend(
            text.match_indices(&pattern)
                .map(|(i, m)| (i, &text[i + m.len()..])),
        );
    }
    found.sort_by_key(|(i, _)| *i);
    found.into_iter().map(|(_, rest)| rest).collect()
}

/// The last assignment wins, as when Python runs the file; a literal beats a computed value only
/// when it comes later.
fn last<T>(lookups: impl IntoIterator<Item = Lookup<T>>) -> Lookup<T> {
    lookups
        .into_iter()
        .filter(|l| !matches!(l, Lookup::Absent))
        .last()
        .unwrap_or(Lookup::Absent)
}

fn www_port(text: &str) -> Lookup<WwwPort> {
    last(after_key(text, "www").into_iter().map(|rest| {
        if let Some(expr) = after_assign(rest) {
            let inner = if let Some(call) = expr.strip_prefix("dict") {
                bracketed(call.trim_start())
            } else {
                bracketed(expr).filter(|_| expr.starts_with('{'))
            };
            return match inner {
                Some(inner) => port_in(text, inner),
                None => Lookup::Computed(cut(expr)),
            };
        }
        if let Some(update) = rest.strip_prefix(".update") {
            return bracketed(update.trim_start()).map_or(Lookup::Absent, |i| port_in(text, i));
        }
        // `c['www']['port'] = …`
        if let Some(sub) = rest.strip_prefix('[')
            && let Some((Some(key), len)) = string_literal(sub)
            && key == "port"
            && let Some(value) = sub[len..].strip_prefix(']').and_then(after_assign)
        {
            return port_value(resolved_value_at(text, value), |v| {
                format!("`c['www']['port'] = {v}`")
            });
        }
        Lookup::Absent
    }))
}

/// The `port` key of a www dict's inside (`port=…` or `'port': …`).
fn port_in(text: &str, inner: &str) -> Lookup<WwwPort> {
    for (i, _) in inner.match_indices("port") {
        let after = &inner[i + 4..];
        let before = inner[..i].chars().next_back();
        let quoted = matches!(before, Some('\'' | '"')) && after.starts_with(before.unwrap_or(' '));
        if quoted {
            let rest = after[1..].trim_start();
            if let Some(value) = rest.strip_prefix(':') {
                return port_value(resolved_value_at(text, value), |v| {
                    format!("`'port': {v}` in c['www']")
                });
            }
        } else if word_starts(inner, i)
            && let Some(value) = after_assign(after)
        {
            return port_value(resolved_value_at(text, value), |v| {
                format!("`port={v}` in c['www']")
            });
        }
    }
    Lookup::Absent
}

/// A www port value: `8010`, `"8010"`, or a Twisted port string `tcp:8010[:interface=…]`,
/// `tcp:port=8010`, `ssl:8443:…`.
fn port_value(value: PyValue, form: impl Fn(&str) -> String) -> Lookup<WwwPort> {
    let shown = match &value {
        PyValue::Int(n) => n.to_string(),
        PyValue::Str(s) => format!("\"{s}\""),
        PyValue::Name(n) | PyValue::Computed(n) => return Lookup::Computed(n.clone()),
    };
    let port = match value {
        PyValue::Int(n) => u16::try_from(n).ok().map(|port| WwwPort {
            port,
            interface: None,
            tls: false,
        }),
        PyValue::Str(s) => strport(&s),
        _ => None,
    };
    match port {
        Some(value) => Lookup::Found {
            value,
            form: form(&shown),
        },
        None => Lookup::Computed(shown),
    }
}

fn strport(s: &str) -> Option<WwwPort> {
    if let Ok(port) = s.trim().parse() {
        return Some(WwwPort {
            port,
            interface: None,
            tls: false,
        });
    }
    let mut parts = s.split(':');
    let tls = match parts.next()? {
        "tcp" => false,
        "ssl" => true,
        _ => return None,
    };
    let (mut port, mut interface) = (None, None);
    for (i, part) in parts.enumerate() {
        if let Some(p) = part.strip_prefix("port=") {
            port = p.parse().ok();
        } else if let Some(iface) = part.strip_prefix("interface=") {
            interface = Some(iface.replace('\\', ""));
        } else if i == 0 {
            port = part.parse().ok();
        }
    }
    Some(WwwPort {
        port: port?,
        interface,
        tls,
    })
}

fn buildbot_url(text: &str) -> Lookup<String> {
    last(after_key(text, "buildbotURL").into_iter().map(|rest| {
        let Some(value) = after_assign(rest) else {
            return Lookup::Absent;
        };
        match resolved_value_at(text, value) {
            PyValue::Str(url) => Lookup::Found {
                form: "`c['buildbotURL']`".into(),
                value: url,
            },
            PyValue::Int(n) => Lookup::Computed(n.to_string()),
            PyValue::Name(e) | PyValue::Computed(e) => Lookup::Computed(e),
        }
    }))
}

/// `['db_url'] = …`, `'db_url': …` and `db_url=…` inside a call; a module-level `db_url = …`
/// (column 0) counts only when a config key names it.
fn db_url(text: &str) -> Lookup<String> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices("db_url") {
        let after = &text[i + 6..];
        let before = text[..i].chars().next_back();
        let value = match before {
            Some(q @ ('\'' | '"')) if after.starts_with(q) => {
                let rest = after[1..].trim_start_matches([' ', '\t']);
                let at_subscript = text[..i - 1].ends_with('[');
                match rest.strip_prefix(']') {
                    Some(sub) if at_subscript => after_assign(sub),
                    _ => rest.strip_prefix(':'),
                }
            }
            _ if word_starts(text, i)
                && !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && !(i == 0 || text[..i].ends_with('\n')) =>
            {
                after_assign(after)
            }
            _ => None,
        };
        let Some(value) = value else { continue };
        found.push(match resolved_value_at(text, value) {
            PyValue::Str(url) => Lookup::Found {
                value: url,
                form: "`db_url`".into(),
            },
            PyValue::Int(n) => Lookup::Computed(n.to_string()),
            PyValue::Name(e) | PyValue::Computed(e) => Lookup::Computed(e),
        });
    }
    last(found)
}

fn cut(expr: &str) -> String {
    expr.lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(60)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn www(text: &str) -> Lookup<WwwPort> {
        read(text).www
    }

    fn port(port: u16, interface: Option<&str>) -> WwwPort {
        WwwPort {
            port,
            interface: interface.map(str::to_owned),
            tls: false,
        }
    }

    fn found_port(text: &str) -> WwwPort {
        match www(text) {
            Lookup::Found { value, .. } => value,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn www_ports_in_every_style() {
        // Buildbot's sample master.cfg.
        let sample =
            "c['www'] = dict(port=8010,\n                plugins=dict(waterfall_view={}))\n";
        assert_eq!(found_port(sample), port(8010, None));
        assert_eq!(
            found_port("c[\"www\"] = {\"port\": 8011}\n"),
            port(8011, None)
        );
        assert_eq!(
            found_port("c['www'] = {'auth': x, 'port': 'tcp:8012:interface=127.0.0.2'}"),
            port(8012, Some("127.0.0.2"))
        );
        assert_eq!(
            found_port("c['www'] = dict(port='tcp:port=8013')"),
            port(8013, None)
        );
        assert_eq!(found_port("c['www']['port'] = \"8014\""), port(8014, None));
        assert_eq!(
            found_port("WWW = 8015\nc['www'] = dict(pb_port=1, port=WWW)"),
            port(8015, None)
        );
        assert_eq!(
            found_port("BuildmasterConfig['www'] = {}\nBuildmasterConfig['www'].update(port=8016)"),
            port(8016, None)
        );
        let ssl = found_port("c['www'] = dict(port='ssl:8443:privateKey=k.pem')");
        assert!(ssl.tls && ssl.port == 8443, "{ssl:?}");
    }

    #[test]
    fn computed_commented_and_missing_ports() {
        assert_eq!(
            www("c['www'] = {'port': f\"tcp:{LOCAL['www_port']}\"}"),
            Lookup::Computed("f\"tcp:{LOCAL['www_port']}\"".into())
        );
        assert_eq!(
            www("# c['www'] = dict(port=9999)\nc['title'] = 'x'"),
            Lookup::Absent
        );
        assert_eq!(
            www("c['www'] = make_www()"),
            Lookup::Computed("make_www()".into())
        );
        assert_eq!(www("if c['www'] == 1: pass"), Lookup::Absent);
    }

    #[test]
    fn buildbot_url_and_db_url() {
        let text = "c['buildbotURL'] = 'http://ci.example:8010/'\n\
                    c['db'] = {\n    'db_url' : \"postgresql://bb:pw@db/bb\",\n}\n";
        let facts = read(text);
        assert_eq!(
            facts.buildbot_url,
            Lookup::Found {
                value: "http://ci.example:8010/".into(),
                form: "`c['buildbotURL']`".into()
            }
        );
        assert!(
            matches!(&facts.db_url, Lookup::Found { value, .. } if value == "postgresql://bb:pw@db/bb")
        );
        let old = read("c['db_url'] = 'sqlite:///state.sqlite'\n");
        assert!(
            matches!(&old.db_url, Lookup::Found { value, .. } if value == "sqlite:///state.sqlite")
        );
        let kw = read("DB = 'postgresql://h/x'\nc['db'] = dict(\n    db_url=DB)\n");
        assert!(matches!(&kw.db_url, Lookup::Found { value, .. } if value == "postgresql://h/x"));
        let computed =
            read("c['db'] = {'db_url': LOCAL['db_url']}\nc['buildbotURL'] = os.environ['U']");
        assert_eq!(computed.db_url, Lookup::Computed("LOCAL['db_url']".into()));
        assert_eq!(
            computed.buildbot_url,
            Lookup::Computed("os.environ['U']".into())
        );
        // A module variable alone is not the config key.
        assert_eq!(read("db_url = 'sqlite://'\n").db_url, Lookup::Absent);
    }

    #[test]
    fn configfile_from_the_tac() {
        let tac = "basedir = '/srv/m'\nrotateLength = 10000000\nconfigfile = 'master.cfg'\n";
        assert_eq!(configfile(tac).as_deref(), Some("master.cfg"));
        assert_eq!(
            configfile("configfile = r'custom.cfg'").as_deref(),
            Some("custom.cfg")
        );
        assert_eq!(configfile("basedir = '.'"), None);
    }
}
