//! `bbctl init-inventory [--file PATH [--force]]` (issue 17; docs/cli.md): a `bbctl.toml` for
//! the agents of `--agent URL…` — each asked for its own name (`GET /v1/master`) — and, unless
//! `--no-registry`, every agent their fleet registry lists. Nothing is written when an agent
//! given with `--agent` does not answer (exit 3), when two agents answer with the same name
//! (exit 2) or when `--file` exists without `--force` (exit 5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::InitInventoryArgs;
use crate::ctx::Ctx;
use crate::exit::{Exit, Failure};
use crate::inventory::TargetSource;
use crate::report::{Outcome, Report};

/// One `[[masters]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub url: String,
    pub standby: bool,
    /// Given with `--agent` (else only in the fleet registry).
    pub given: bool,
}

/// The `[defaults]` the file names: the files the command itself was given.
pub struct Defaults<'a> {
    pub token_file: Option<&'a Path>,
    pub ca_file: Option<&'a Path>,
}

pub async fn run(
    args: &InitInventoryArgs,
    defaults: &Defaults<'_>,
    ctx: &Ctx,
) -> anyhow::Result<Outcome> {
    if let Some(out) = &args.file
        && out.exists()
        && !args.force
    {
        return Err(Failure {
            exit: Exit::Refused,
            message: format!(
                "refusing to overwrite {}: it exists (--force replaces it)",
                out.display()
            ),
        }
        .into());
    }
    let targets = ctx.targets();
    let answers = futures_util::future::join_all(
        targets
            .iter()
            .map(|t| async move { (t, ctx.client(t).master().await) }),
    )
    .await;
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    let mut unreachable = Vec::new();
    for (t, answer) in answers {
        match answer {
            Ok(info) => entries.push(Entry {
                name: info.agent_name.clone(),
                url: t.url.to_string(),
                standby: t.standby,
                given: t.source != TargetSource::Registry,
            }),
            Err(err) if t.source == TargetSource::Registry => {
                warnings.push(format!(
                    "warning: {}: did not answer ({err}); listed as the fleet registry has it",
                    t.name
                ));
                entries.push(Entry {
                    name: t.name.clone(),
                    url: t.url.to_string(),
                    standby: t.standby,
                    given: false,
                });
            }
            Err(err) => unreachable.push(format!("{}: {err}", t.name)),
        }
    }
    if !unreachable.is_empty() {
        return Err(Failure {
            exit: Exit::Partial,
            message: format!(
                "nothing written: {} agent(s) did not answer: {}",
                unreachable.len(),
                unreachable.join("; ")
            ),
        }
        .into());
    }
    let entries = dedupe(entries).map_err(|message| Failure {
        exit: Exit::Usage,
        message,
    })?;
    let text = render(&entries, defaults);
    match &args.file {
        None => Ok(Outcome {
            report: Report::Text(text),
            exit: Exit::Ok,
            warnings,
        }),
        Some(path) => {
            write_private(path, &text)?;
            warnings.push(format!(
                "wrote {} ({} agent(s))",
                path.display(),
                entries.len()
            ));
            Ok(Outcome {
                report: Report::Text(String::new()),
                exit: Exit::Ok,
                warnings,
            })
        }
    }
}

/// One entry per name. The same agent reached twice (an `--agent` URL and its registry row) keeps
/// the URL the operator gave, and the registry's standby flag; two agents given with `--agent` that answer with one name are an
/// error (one of them is misconfigured).
pub fn dedupe(entries: Vec<Entry>) -> Result<Vec<Entry>, String> {
    let mut by_name: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for e in entries {
        by_name.entry(e.name.clone()).or_default().push(e);
    }
    let mut out = Vec::new();
    for (name, same) in by_name {
        let mut given: Vec<Entry> = same.iter().filter(|e| e.given).cloned().collect();
        given.dedup_by(|a, b| a.url == b.url);
        if given.len() > 1 {
            let urls: Vec<&str> = given.iter().map(|e| e.url.as_str()).collect();
            return Err(format!(
                "two agents answer as {name}: {}; nothing written",
                urls.join(", ")
            ));
        }
        let mut entry = given.pop().unwrap_or_else(|| same[0].clone());
        // A standby slot as the registry says (an `--agent` target does not say).
        entry.standby |= same.iter().any(|e| e.standby);
        out.push(entry);
    }
    Ok(out)
}

/// The file: `[defaults]` with the token and CA files given, then the entries by name.
pub fn render(entries: &[Entry], defaults: &Defaults<'_>) -> String {
    let mut text = String::from(
        "# bbctl.toml, written by `bbctl init-inventory` (docs/cli.md, \"Inventory\").\n",
    );
    text.push_str("[defaults]\n");
    match defaults.token_file {
        Some(p) => text.push_str(&format!("token_file = {}\n", quote(&absolute(p)))),
        None => text.push_str("# token_file = \"/etc/bbctl/token\"   # or $BBCTL_TOKEN\n"),
    }
    if let Some(p) = defaults.ca_file {
        text.push_str(&format!("ca_file = {}\n", quote(&absolute(p))));
    }
    for e in entries {
        text.push_str(&format!(
            "\n[[masters]]\nname = {}\nurl = {}\n",
            quote(Path::new(&e.name)),
            quote(Path::new(&e.url))
        ));
        if e.standby {
            text.push_str("standby = true\n");
        }
    }
    text
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// A TOML basic string.
fn quote(p: &Path) -> String {
    toml_string(&p.to_string_lossy())
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `text` to `path` with mode 0600 (its directory created if need be), through a
/// temporary file renamed over it.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
    }
    let tmp = path.with_extension("toml.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, url: &str) -> Entry {
        Entry {
            name: name.into(),
            url: url.into(),
            standby: false,
            given: true,
        }
    }

    fn registry(name: &str, url: &str) -> Entry {
        Entry {
            given: false,
            ..e(name, url)
        }
    }

    #[test]
    fn the_file_loads_as_an_inventory_with_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "0123456789abcdef\n").unwrap();
        let mut standby = e("master-2", "https://10.0.0.12:7700/");
        standby.standby = true;
        let text = render(
            &[e("master-1", "http://127.0.0.1:7701/"), standby],
            &Defaults {
                token_file: Some(&token),
                ca_file: None,
            },
        );
        let path = dir.path().join("bbctl.toml");
        std::fs::write(&path, &text).unwrap();
        let inv = crate::inventory::Inventory::load(crate::inventory::Source {
            inventory: Some(&path),
            agents: &[],
            token_file: None,
            ca_file: None,
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{text}"));
        let names: Vec<(&str, bool)> = inv
            .targets
            .iter()
            .map(|t| (t.name.as_str(), t.standby))
            .collect();
        assert_eq!(names, vec![("master-1", false), ("master-2", true)]);
    }

    #[test]
    fn one_agent_reached_twice_is_one_entry_two_agents_with_one_name_an_error() {
        let mut standby = registry("master-1", "http://advertised:1/");
        standby.standby = true;
        let got = dedupe(vec![
            e("master-1", "http://a:1/"),
            standby,
            registry("master-2", "http://b:1/"),
        ])
        .unwrap();
        let mut want = e("master-1", "http://a:1/");
        want.standby = true;
        assert_eq!(got, vec![want, registry("master-2", "http://b:1/")]);
        let err = dedupe(vec![e("m", "http://a:1/"), e("m", "http://b:1/")]).unwrap_err();
        assert!(err.contains("two agents answer as m"), "{err}");
    }

    #[test]
    fn strings_are_quoted_for_toml() {
        assert_eq!(toml_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
