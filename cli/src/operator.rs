//! Who runs this CLI, for the agents' audit trail: `user@host`, worked out once. The API client
//! sends it as `X-Bbctl-Requested-By` on every call that changes something, and drains and
//! upgrade journals record it as their `requested_by`.

use std::sync::OnceLock;

/// `user@host` of the operator: `$USER` (else `$LOGNAME`, else the user name of the process's
/// uid from the password database, else `uid<N>`) at `$HOSTNAME` (else `/etc/hostname`, else
/// `localhost`).
pub fn requested_by() -> &'static str {
    static WHO: OnceLock<String> = OnceLock::new();
    WHO.get_or_init(|| {
        let var = |name: &str| std::env::var(name).ok();
        let uid = nix::unistd::getuid();
        let user = user_name(&var, uid.as_raw(), &|_| {
            nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|u| u.name)
        });
        let host = var("HOSTNAME")
            .filter(|h| !h.trim().is_empty())
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        format!("{user}@{host}")
    })
}

/// The operator's user name: `env("USER")`, else `env("LOGNAME")`, else `passwd(uid)`, else
/// `uid<N>` — never a made-up name such as `unknown` that says nothing about who it was.
fn user_name(
    env: &dyn Fn(&str) -> Option<String>,
    uid: u32,
    passwd: &dyn Fn(u32) -> Option<String>,
) -> String {
    let set = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    set(env("USER"))
        .or_else(|| set(env("LOGNAME")))
        .or_else(|| set(passwd(uid)))
        .unwrap_or_else(|| format!("uid{uid}"))
}

#[cfg(test)]
mod tests {
    use super::user_name;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn without_user_or_logname_the_uid_names_the_operator() {
        let alice = |uid: u32| (uid == 1000).then(|| "alice".to_string());
        let nobody = |_: u32| None;
        assert_eq!(user_name(&env(&[("USER", "bob")]), 1000, &alice), "bob");
        assert_eq!(
            user_name(&env(&[("USER", " "), ("LOGNAME", "carol")]), 1000, &alice),
            "carol"
        );
        // Cron, systemd units and `env -i` run without $USER and $LOGNAME.
        assert_eq!(user_name(&env(&[]), 1000, &alice), "alice");
        assert_eq!(user_name(&env(&[]), 4242, &nobody), "uid4242");
    }

    #[test]
    fn this_process_has_a_real_user_name() {
        // Whatever the environment, the password database knows this test's uid.
        let uid = nix::unistd::getuid();
        let name = user_name(&env(&[]), uid.as_raw(), &|_| {
            nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map(|u| u.name)
        });
        assert!(!name.is_empty() && name != "unknown", "{name}");
    }
}
