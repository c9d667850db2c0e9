//! A configuration bundle as uploaded: validated paths, decoded contents, and its sha256.
//!
//! Nothing may escape the basedir: paths are relative, `/`-separated, without `.`/`..`/empty
//! components or NUL, and may not overwrite the files Buildbot and the agent own there.

use std::collections::BTreeMap;

use base64::Engine;
use bbctl_api::{ConfigFile, VARS_FILE_NAME};
use sha2::{Digest, Sha256};

/// The most decoded bytes a bundle may carry.
pub const MAX_BUNDLE_BYTES: usize = 8 * 1024 * 1024;
/// The most files a bundle may carry.
pub const MAX_FILES: usize = 1000;
/// The label of a configuration found in the basedir that the agent never staged.
pub const UNMANAGED: &str = "unmanaged";
/// Files in the basedir that belong to Buildbot or the agent, not to a configuration.
const RESERVED: &[&str] = &["buildbot.tac", "twistd.pid", "twistd.log", VARS_FILE_NAME];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BundleError {
    #[error("bad path {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
    #[error("file {path:?}: content is not valid base64")]
    BadBase64 { path: String },
    #[error("the bundle must contain master.cfg")]
    NoMasterCfg,
    #[error("bad label: {0}")]
    BadLabel(&'static str),
    #[error("the bundle is over the limit of {MAX_BUNDLE_BYTES} bytes")]
    TooLarge,
    #[error("the bundle has more than {MAX_FILES} files")]
    TooManyFiles,
}

/// A validated bundle: path → content, sorted by path.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Bundle {
    pub fn from_upload(files: &[ConfigFile]) -> Result<Bundle, BundleError> {
        if files.len() > MAX_FILES {
            return Err(BundleError::TooManyFiles);
        }
        let mut out = BTreeMap::new();
        let mut total = 0usize;
        for f in files {
            validate_path(&f.path)?;
            let content = base64::engine::general_purpose::STANDARD
                .decode(f.content_base64.as_bytes())
                .map_err(|_| BundleError::BadBase64 {
                    path: f.path.clone(),
                })?;
            total += content.len();
            if total > MAX_BUNDLE_BYTES {
                return Err(BundleError::TooLarge);
            }
            if out.insert(f.path.clone(), content).is_some() {
                return Err(BundleError::BadPath {
                    path: f.path.clone(),
                    reason: "listed twice",
                });
            }
        }
        if !out.contains_key("master.cfg") {
            return Err(BundleError::NoMasterCfg);
        }
        Ok(Bundle { files: out })
    }

    pub fn sha256(&self) -> String {
        sha256_of(self.files.iter().map(|(p, c)| (p.as_str(), c.as_slice())))
    }

    pub fn paths(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }
}

/// sha256 (hex) over `(path, NUL, content, NUL)` for each file, in path order (the caller
/// passes them sorted).
pub fn sha256_of<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut h = Sha256::new();
    for (path, content) in files {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(content);
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn validate_path(path: &str) -> Result<(), BundleError> {
    let bad = |reason| {
        Err(BundleError::BadPath {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() || path.len() > 255 {
        return bad("empty or longer than 255 bytes");
    }
    if path.contains('\0') {
        return bad("contains NUL");
    }
    if path.starts_with('/') || path.contains('\\') {
        return bad("must be relative and use `/`");
    }
    for part in path.split('/') {
        match part {
            "" => return bad("empty path component"),
            "." | ".." => return bad("`.` and `..` are not allowed"),
            _ if part.chars().any(char::is_control) => return bad("control character"),
            _ => {}
        }
    }
    if RESERVED.contains(&path) {
        return bad("reserved for Buildbot or the agent");
    }
    Ok(())
}

pub fn validate_label(label: &str) -> Result<(), BundleError> {
    if label.trim().is_empty() || label.len() > 200 {
        return Err(BundleError::BadLabel("must be 1–200 characters"));
    }
    if label.chars().any(char::is_control) {
        return Err(BundleError::BadLabel("control characters are not allowed"));
    }
    if label == UNMANAGED {
        return Err(BundleError::BadLabel("`unmanaged` is reserved"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &[u8]) -> ConfigFile {
        ConfigFile {
            path: path.into(),
            content_base64: base64::engine::general_purpose::STANDARD.encode(content),
        }
    }

    #[test]
    fn sha_is_order_independent_and_matches_the_documented_formula() {
        let a = Bundle::from_upload(&[file("master.cfg", b"x"), file("lib/a.py", b"y")]).unwrap();
        let b = Bundle::from_upload(&[file("lib/a.py", b"y"), file("master.cfg", b"x")]).unwrap();
        assert_eq!(a.sha256(), b.sha256());
        // sha256("lib/a.py\0y\0master.cfg\0x\0")
        let mut h = Sha256::new();
        h.update(b"lib/a.py\0y\0master.cfg\0x\0");
        let expect: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(a.sha256(), expect);
    }

    #[test]
    fn rejects_escaping_and_reserved_paths() {
        for p in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "./a",
            "a\0b",
            "",
            "twistd.pid",
            "a\\b",
        ] {
            assert!(
                matches!(validate_path(p), Err(BundleError::BadPath { .. })),
                "{p:?}"
            );
        }
        for p in ["master.cfg", "lib/steps.py", "a.b/c..d"] {
            assert_eq!(validate_path(p), Ok(()), "{p:?}");
        }
    }

    #[test]
    fn requires_master_cfg_valid_base64_and_the_size_limit() {
        assert_eq!(
            Bundle::from_upload(&[file("x.py", b"")]),
            Err(BundleError::NoMasterCfg)
        );
        let bad = ConfigFile {
            path: "master.cfg".into(),
            content_base64: "!!".into(),
        };
        assert!(matches!(
            Bundle::from_upload(&[bad]),
            Err(BundleError::BadBase64 { .. })
        ));
        let big = vec![0u8; MAX_BUNDLE_BYTES + 1];
        assert_eq!(
            Bundle::from_upload(&[file("master.cfg", &big)]),
            Err(BundleError::TooLarge)
        );
    }
}
