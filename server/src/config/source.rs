//! Where settings come from: the TOML file, then `BBCTL_AGENT_*` environment overrides on top.
//!
//! The result is one merged TOML table; [`super::read`] turns it into typed settings and names
//! the offending key when something is wrong.

use std::path::Path;

use toml::{Table, Value};

use super::ConfigError;

/// The prefix of every override variable.
pub const ENV_PREFIX: &str = "BBCTL_AGENT_";
/// The variable holding the config file path (not an override).
pub const ENV_CONFIG_PATH: &str = "BBCTL_AGENT_CONFIG";

/// Top-level keys an override may address. Other `BBCTL_AGENT_*` variables (e.g. ones a test
/// harness uses for itself) are not settings and are left alone.
const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "listen",
    "state_dir",
    "state_db_url",
    "token",
    "token_file",
    "poll_interval_secs",
    "master",
    "wamp",
    "load_balancer",
    "tls",
    "fleet",
];

/// Keys whose override value is parsed as a TOML literal (number, boolean) instead of a string.
const NON_STRING_KEYS: &[&str] = &[
    "poll_interval_secs",
    "master.start_timeout_secs",
    "fleet.heartbeat_secs",
    "fleet.standby",
    "load_balancer.runtime_sockets",
];

/// Reads the file at `path` as a TOML table.
pub fn read_file(path: &Path) -> Result<Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    text.parse::<Table>().map_err(|e| ConfigError::File {
        path: path.display().to_string(),
        message: one_line(&e.to_string()),
    })
}

/// Applies overrides from `vars` (name, value) to `table`.
pub fn apply_env(
    table: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if name == ENV_CONFIG_PATH {
            continue;
        }
        let path: Vec<String> = rest
            .to_ascii_lowercase()
            .split("__")
            .map(str::to_owned)
            .collect();
        if !TOP_LEVEL_KEYS.contains(&path[0].as_str()) {
            continue;
        }
        let dotted = path.join(".");
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Setting {
                key: dotted,
                message: format!("malformed override variable {name}"),
            });
        }
        let literal =
            NON_STRING_KEYS.contains(&dotted.as_str()) || dotted.starts_with("master.vars.");
        let parsed = if literal {
            parse_literal(&value)
        } else {
            Value::String(value)
        };
        set_path(table, &path, parsed).map_err(|message| ConfigError::Setting {
            key: dotted.clone(),
            message: format!("{message} (from {name})"),
        })?;
    }
    Ok(())
}

/// Parses `raw` as a TOML value (`8011`, `1.5`, `true`, `"x"`), falling back to a plain string.
fn parse_literal(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

fn set_path(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let (last, parents) = path.split_last().expect("path is never empty");
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{key}` is not a table"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

/// Collapses a multi-line parser message into one line.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn overrides_nested_keys_and_parses_literals_only_where_typed() {
        let mut t: Table = "name = \"a\"\n[master]\nbasedir = \"/x\"\n"
            .parse()
            .unwrap();
        apply_env(
            &mut t,
            env(&[
                ("BBCTL_AGENT_NAME", "123"),
                ("BBCTL_AGENT_MASTER__REST_URL", "http://127.0.0.1:1/"),
                ("BBCTL_AGENT_MASTER__VARS__WWW_PORT", "8011"),
                ("BBCTL_AGENT_POLL_INTERVAL_SECS", "0.5"),
                ("BBCTL_AGENT_CONFIG", "/ignored"),
                ("BBCTL_AGENT_SOMETHING_ELSE", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(t["name"].as_str(), Some("123"));
        assert_eq!(
            t["master"]["rest_url"].as_str(),
            Some("http://127.0.0.1:1/")
        );
        assert_eq!(t["master"]["basedir"].as_str(), Some("/x"));
        assert_eq!(t["master"]["vars"]["www_port"].as_integer(), Some(8011));
        assert_eq!(t["poll_interval_secs"].as_float(), Some(0.5));
        assert!(!t.contains_key("config"));
    }

    #[test]
    fn override_into_a_non_table_names_the_key() {
        let mut t: Table = "master = 3\n".parse().unwrap();
        let err = apply_env(&mut t, env(&[("BBCTL_AGENT_MASTER__BASEDIR", "/x")])).unwrap_err();
        assert!(err.to_string().contains("master.basedir"), "{err}");
    }
}
