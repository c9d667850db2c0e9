//! Typed access to the merged settings table, with errors that name the dotted key.
//!
//! Every key read is remembered so that [`Reader::finish`] can reject keys nobody asked for (a
//! typo in the file must not be silently ignored).

use std::collections::BTreeSet;

use toml::{Table, Value};

use super::ConfigError;

pub struct Reader<'a> {
    root: &'a Table,
    seen: BTreeSet<String>,
}

impl<'a> Reader<'a> {
    pub fn new(root: &'a Table) -> Self {
        Reader {
            root,
            seen: BTreeSet::new(),
        }
    }

    fn lookup(&mut self, key: &str) -> Result<Option<&'a Value>, ConfigError> {
        self.seen.insert(key.to_owned());
        let mut current = self.root;
        let parts: Vec<&str> = key.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let Some(value) = current.get(*part) else {
                return Ok(None);
            };
            if i + 1 == parts.len() {
                return Ok(Some(value));
            }
            current = value
                .as_table()
                .ok_or_else(|| bad(&parts[..=i].join("."), "must be a table"))?;
        }
        Ok(None)
    }

    /// Whether `key` is in the table, without reading it (an empty section is still there).
    pub fn present(&self, key: &str) -> bool {
        let mut current = self.root;
        let parts: Vec<&str> = key.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            match current.get(*part) {
                None => return false,
                Some(_) if i + 1 == parts.len() => return true,
                Some(Value::Table(t)) => current = t,
                Some(_) => return false,
            }
        }
        false
    }

    pub fn opt_str(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.lookup(key)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(
                key,
                &format!("must be a string, not {}", other.type_str()),
            )),
        }
    }

    /// A list of strings (`["a", "b"]`); an entry that is not a string names its position.
    pub fn opt_str_list(&mut self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.lookup(key)? {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(bad(
                        key,
                        &format!("entry {} must be a string, not {}", i + 1, other.type_str()),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(bad(
                key,
                &format!("must be a list of strings, not {}", other.type_str()),
            )),
        }
    }

    pub fn req_str(&mut self, key: &str) -> Result<String, ConfigError> {
        match self.opt_str(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(bad(key, "must not be empty")),
            None => Err(ConfigError::Missing {
                key: key.to_owned(),
            }),
        }
    }

    pub fn opt_f64(&mut self, key: &str) -> Result<Option<f64>, ConfigError> {
        match self.lookup(key)? {
            None => Ok(None),
            Some(Value::Float(f)) => Ok(Some(*f)),
            Some(Value::Integer(i)) => Ok(Some(*i as f64)),
            Some(other) => Err(bad(
                key,
                &format!("must be a number, not {}", other.type_str()),
            )),
        }
    }

    pub fn opt_bool(&mut self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.lookup(key)? {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(other) => Err(bad(
                key,
                &format!("must be true or false, not {}", other.type_str()),
            )),
        }
    }

    /// A sub-table read as a whole (e.g. `master.vars`), converted to JSON.
    pub fn opt_table_json(
        &mut self,
        key: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ConfigError> {
        match self.lookup(key)? {
            None => Ok(serde_json::Map::new()),
            Some(Value::Table(t)) => {
                let json = serde_json::to_value(t).map_err(|e| bad(key, &e.to_string()))?;
                Ok(json.as_object().cloned().unwrap_or_default())
            }
            Some(other) => Err(bad(
                key,
                &format!("must be a table, not {}", other.type_str()),
            )),
        }
    }

    /// Rejects every key present in the table that was never read.
    pub fn finish(self) -> Result<(), ConfigError> {
        let mut unknown = Vec::new();
        collect_unknown(self.root, "", &self.seen, &mut unknown);
        match unknown.into_iter().next() {
            None => Ok(()),
            Some(key) => Err(bad(&key, "unknown setting")),
        }
    }
}

fn collect_unknown(table: &Table, prefix: &str, seen: &BTreeSet<String>, out: &mut Vec<String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if seen.contains(&key) {
            continue;
        }
        match v {
            Value::Table(t) if seen.iter().any(|s| s.starts_with(&format!("{key}."))) => {
                collect_unknown(t, &key, seen, out)
            }
            _ => out.push(key),
        }
    }
}

pub fn bad(key: &str, message: &str) -> ConfigError {
    ConfigError::Setting {
        key: key.to_owned(),
        message: message.to_owned(),
    }
}
