//! The one place an [`Inspection`] becomes text: the agent config (TOML, each value with a
//! comment saying how it was found and, for a guess, what to confirm) and the report `init`
//! prints (`found:`, `check:`, `note:` lines). The report never shows a password: the database
//! URL is redacted there, while the file (mode 0600) holds it as master.cfg does.

use std::fmt::Display;

use super::init::{Inspection, PLACEHOLDER_BUILDBOT, Setting};
use super::{Kind, Line};

const VARS_NOTE: &str = "[master.vars] left out: a master.cfg adopted as is does not read them \
                         (docs/adopt.md)";
const LB_NOTE: &str = "no [load_balancer]: drains are refused until one is configured \
                       (docs/agent-config.md, docs/adopt.md)";

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One `key = "value"` with its comments.
fn entry<T>(out: &mut String, key: &str, setting: &Setting<T>, value: &str) {
    out.push_str(&format!("# {}.\n", capitalised(&setting.how)));
    if let Some(check) = &setting.check {
        out.push_str(&format!("# CHECK: {check}.\n"));
    }
    out.push_str(&format!("{key} = {}\n", toml_string(value)));
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

fn shown(path: &std::path::Path) -> String {
    path.display().to_string()
}

/// The agent config `init` writes.
pub fn config_toml(i: &Inspection) -> String {
    let mut out = format!(
        "# bbctl-agent config for the Buildbot master in {}, written by `bbctl-agent init`.\n\
         # Check it with `bbctl-agent check-config {}` before starting the agent;\n\
         # every setting is described in docs/agent-config.md.\n\n",
        i.basedir.display(),
        i.output.display()
    );
    entry(&mut out, "name", &i.name, &i.name.value);
    entry(&mut out, "listen", &i.listen, &i.listen.value.to_string());
    entry(
        &mut out,
        "state_dir",
        &i.state_dir,
        &shown(&i.state_dir.value),
    );
    entry(
        &mut out,
        "token_file",
        &i.token_file,
        &shown(&i.token_file.value),
    );
    out.push_str("\n[master]\n");
    out.push_str(&format!("basedir = {}\n", toml_string(&shown(&i.basedir))));
    entry(&mut out, "buildbot", &i.buildbot, &shown(&i.buildbot.value));
    entry(&mut out, "rest_url", &i.rest_url, &i.rest_url.value);
    match &i.db_url {
        Ok(db) => entry(&mut out, "db_url", db, db.value.as_str()),
        Err(why) => out.push_str(&format!("# {why}.\n")),
    }
    out.push_str(&format!("# {VARS_NOTE}.\n\n# {}.\n", capitalised(LB_NOTE)));
    out
}

fn found<T>(lines: &mut Vec<Line>, key: &str, setting: &Setting<T>, value: impl Display) {
    lines.push(Line::new(
        Kind::Found,
        format!(
            "{key} = {} ({})",
            toml_string(&value.to_string()),
            setting.how
        ),
    ));
}

/// What `init` prints after the path it wrote: every value found and how, then every check,
/// then the notes.
pub fn report(i: &Inspection) -> Vec<Line> {
    let mut lines = Vec::new();
    found(&mut lines, "name", &i.name, &i.name.value);
    found(&mut lines, "listen", &i.listen, i.listen.value);
    found(
        &mut lines,
        "state_dir",
        &i.state_dir,
        i.state_dir.value.display(),
    );
    found(
        &mut lines,
        "token_file",
        &i.token_file,
        i.token_file.value.display(),
    );
    lines.push(Line::new(
        Kind::Found,
        format!(
            "master.basedir = {} (given with --basedir)",
            toml_string(&shown(&i.basedir))
        ),
    ));
    let placeholder = i.buildbot.value.as_os_str() == PLACEHOLDER_BUILDBOT;
    if !placeholder {
        found(
            &mut lines,
            "master.buildbot",
            &i.buildbot,
            i.buildbot.value.display(),
        );
    }
    found(
        &mut lines,
        "master.rest_url",
        &i.rest_url,
        &i.rest_url.value,
    );
    if let Ok(db) = &i.db_url {
        // `DbUrl`'s Display redacts the password.
        found(&mut lines, "master.db_url", db, &db.value);
    }
    let checks = [
        ("name", &i.name.check),
        ("listen", &i.listen.check),
        ("token_file", &i.token_file.check),
        ("master.rest_url", &i.rest_url.check),
    ];
    if let Some(check) = &i.buildbot.check {
        let text = if placeholder {
            format!(
                "master.buildbot: {check} (the file holds the placeholder {PLACEHOLDER_BUILDBOT})"
            )
        } else {
            format!("master.buildbot: {check}")
        };
        lines.push(Line::new(Kind::Check, text));
    }
    for (key, check) in checks {
        if let Some(check) = check {
            lines.push(Line::new(Kind::Check, format!("{key}: {check}")));
        }
    }
    if let Ok(db) = &i.db_url
        && let Some(check) = &db.check
    {
        lines.push(Line::new(Kind::Check, format!("master.db_url: {check}")));
    }
    if let Err(why) = &i.db_url {
        lines.push(Line::new(Kind::Note, why.clone()));
    }
    lines.extend(i.notes.iter().map(|n| Line::new(Kind::Note, n.clone())));
    lines.push(Line::new(Kind::Note, VARS_NOTE));
    lines.push(Line::new(Kind::Note, LB_NOTE));
    lines
}
