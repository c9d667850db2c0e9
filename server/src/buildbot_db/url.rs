//! Buildbot's database URL (an SQLAlchemy URL, `[master] db_url`) as the agent needs it: the
//! backend kind, libpq connection parameters for PostgreSQL (the password kept apart, for
//! `PGPASSWORD`), a key naming the database without credentials (`host:port/dbname`, to
//! compare agents and `upgrade-master`'s output), and a display with the password hidden the
//! way Buildbot hides it (`xxxx`).
//!
//! Grammar (SQLAlchemy's): `scheme[+driver]://[user[:password]@][host][:port][/database][?k=v&…]`,
//! every part percent-encoded; query parameters of a PostgreSQL URL are libpq keywords
//! (`?host=/run/postgresql` names a socket directory).

/// What kind of database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Postgresql,
    Sqlite,
    Mysql,
    /// Any other scheme, as written.
    Other(String),
}

impl Backend {
    pub fn as_str(&self) -> &str {
        match self {
            Backend::Postgresql => "postgresql",
            Backend::Sqlite => "sqlite",
            Backend::Mysql => "mysql",
            Backend::Other(s) => s,
        }
    }
}

/// A parsed database URL.
#[derive(Clone, PartialEq, Eq)]
pub struct DbTarget {
    pub backend: Backend,
    /// The scheme as written (`postgresql+psycopg2`).
    scheme: String,
    pub user: Option<String>,
    password: Option<String>,
    /// `None`: libpq's default (the local socket).
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: String,
    /// The query parameters, decoded, in order.
    pub params: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("database URL {redacted}: {reason}")]
pub struct UrlError {
    pub redacted: String,
    pub reason: String,
}

impl DbTarget {
    pub fn parse(url: &str) -> Result<DbTarget, UrlError> {
        let err = |reason: &str| UrlError {
            redacted: crate::secret::redact_url(url),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| err("not a URL (no `://`)"))?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '_')
        {
            return Err(err("bad scheme"));
        }
        let dialect = scheme.split('+').next().unwrap_or(scheme);
        let backend = match dialect {
            "postgresql" | "postgres" => Backend::Postgresql,
            "sqlite" => Backend::Sqlite,
            "mysql" | "mariadb" => Backend::Mysql,
            other => Backend::Other(other.to_owned()),
        };
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        // SQLAlchemy: the user has no `:` or `/`, the password no `@`.
        let (userinfo, hostpart) = match before_query.split_once('@') {
            Some((u, h)) if !u.split(':').next().unwrap_or("").contains('/') => (Some(u), h),
            _ => (None, before_query),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((name, pass)) => (Some(decode(name)), Some(decode(pass))),
                None => (Some(decode(u)), None),
            },
        };
        let (hostport, database) = match hostpart.split_once('/') {
            Some((h, d)) => (h, decode(d)),
            None => (hostpart, String::new()),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| err("unclosed `[`"))?;
            (Some(h.to_owned()), after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (Some(h.to_owned()), Some(p)),
                None => (Some(hostport.to_owned()), None),
            }
        };
        let host = host.filter(|h| !h.is_empty()).map(|h| decode(&h));
        let port = match port.filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => Some(p.parse().map_err(|_| err("the port is not a number"))?),
        };
        let params = query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (decode(k), decode(v)),
                None => (decode(p), String::new()),
            })
            .collect();
        Ok(DbTarget {
            backend,
            scheme: scheme.to_owned(),
            user,
            password,
            host,
            port,
            database,
            params,
        })
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The password, for `PGPASSWORD` (never argv, never a log line).
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The host libpq connects to: the URL's, else a `?host=` parameter (a socket directory).
    pub fn effective_host(&self) -> Option<&str> {
        self.host.as_deref().or_else(|| self.param("host"))
    }

    /// `host:port/dbname` without credentials; the defaults filled in (`localhost`, 5432) so
    /// that two spellings of the same database compare equal.
    pub fn key(&self) -> String {
        let host = self.effective_host().unwrap_or("localhost");
        let port = self
            .port
            .or_else(|| self.param("port").and_then(|p| p.parse().ok()))
            .unwrap_or(5432);
        format!("{host}:{port}/{}", self.database)
    }

    /// libpq keyword/value pairs, without the password and without `application_name`
    /// (the tools take theirs from `PGAPPNAME`).
    pub fn libpq_params(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(h) = &self.host {
            out.push(("host".to_owned(), h.clone()));
        }
        if let Some(p) = self.port {
            out.push(("port".to_owned(), p.to_string()));
        }
        if let Some(u) = &self.user {
            out.push(("user".to_owned(), u.clone()));
        }
        if !self.database.is_empty() {
            out.push(("dbname".to_owned(), self.database.clone()));
        }
        for (k, v) in &self.params {
            let taken = out.iter().any(|(o, _)| o == k);
            if !taken && k != "password" && k != "application_name" {
                out.push((k.clone(), v.clone()));
            }
        }
        out
    }

    /// A libpq connection string (`key='value' …`) of [`DbTarget::libpq_params`] plus `extra`.
    /// Holds no password unless `extra` does.
    pub fn conninfo(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs = self.libpq_params();
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        pairs
            .iter()
            .map(|(k, v)| format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The URL with the password shown as `xxxx`, as Buildbot prints it.
impl std::fmt::Display for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if self.password.is_some() {
                f.write_str(":xxxx")?;
            }
            f.write_str("@")?;
        }
        match &self.host {
            Some(h) if h.contains(':') => write!(f, "[{h}]")?,
            Some(h) => f.write_str(h)?,
            None => {}
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if !self.database.is_empty() || self.backend == Backend::Sqlite {
            write!(f, "/{}", self.database)?;
        }
        let query: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| {
                if k == "password" {
                    format!("{k}=xxxx")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbTarget({self})")
    }
}

/// Percent-decoding; a malformed escape stays as written.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_becomes_libpq_parameters_with_the_password_apart() {
        let t = DbTarget::parse("postgresql+psycopg2://buildbot:s3%40cr%2Ft@127.0.0.1:5433/bb")
            .unwrap();
        assert_eq!(t.backend, Backend::Postgresql);
        assert_eq!(t.password(), Some("s3@cr/t"));
        assert_eq!(
            t.libpq_params(),
            [
                ("host".to_owned(), "127.0.0.1".to_owned()),
                ("port".to_owned(), "5433".to_owned()),
                ("user".to_owned(), "buildbot".to_owned()),
                ("dbname".to_owned(), "bb".to_owned()),
            ]
        );
        assert_eq!(t.key(), "127.0.0.1:5433/bb");
        assert_eq!(
            t.to_string(),
            "postgresql+psycopg2://buildbot:xxxx@127.0.0.1:5433/bb"
        );
        let info = t.conninfo(&[("application_name", "bbctl-agent")]);
        assert_eq!(
            info,
            "host='127.0.0.1' port='5433' user='buildbot' dbname='bb' \
             application_name='bbctl-agent'"
        );
        assert!(!format!("{t:?}").contains("s3"));
    }

    #[test]
    fn a_socket_directory_in_the_query_is_the_host() {
        let t = DbTarget::parse("postgresql://bb@/buildbot?host=/run/postgresql&sslmode=disable")
            .unwrap();
        assert_eq!(t.host, None);
        assert_eq!(t.effective_host(), Some("/run/postgresql"));
        assert_eq!(t.key(), "/run/postgresql:5432/buildbot");
        assert_eq!(
            t.conninfo(&[]),
            "user='bb' dbname='buildbot' host='/run/postgresql' sslmode='disable'"
        );
        assert_eq!(t.password(), None);
        assert_eq!(
            t.to_string(),
            "postgresql://bb@/buildbot?host=/run/postgresql&sslmode=disable"
        );
    }

    #[test]
    fn a_password_in_the_query_is_hidden_and_never_a_parameter() {
        let t = DbTarget::parse("postgres://u@h/d?password=p'w").unwrap();
        assert_eq!(t.to_string(), "postgres://u@h/d?password=xxxx");
        assert!(!t.conninfo(&[]).contains("p'w"));
        assert_eq!(
            t.conninfo(&[("password", "a'b\\c")]),
            "host='h' user='u' dbname='d' password='a\\'b\\\\c'"
        );
    }

    #[test]
    fn defaults_make_equal_keys_and_other_backends_are_named() {
        let a = DbTarget::parse("postgresql://u:p@localhost/bb").unwrap();
        let b = DbTarget::parse("postgresql+psycopg2://other@localhost:5432/bb").unwrap();
        assert_eq!(a.key(), b.key());
        let v6 = DbTarget::parse("postgresql://u@[::1]:6000/bb").unwrap();
        assert_eq!(v6.key(), "::1:6000/bb");
        assert_eq!(v6.to_string(), "postgresql://u@[::1]:6000/bb");
        let lite = DbTarget::parse("sqlite:///state.sqlite").unwrap();
        assert_eq!(lite.backend.as_str(), "sqlite");
        assert_eq!(lite.to_string(), "sqlite:///state.sqlite");
        let my = DbTarget::parse("mysql+mysqldb://u:p@h/bb").unwrap();
        assert_eq!(my.backend.as_str(), "mysql");
        let odd = DbTarget::parse("oracle://u@h/bb").unwrap();
        assert_eq!(odd.backend.as_str(), "oracle");
    }

    #[test]
    fn malformed_urls_are_refused_without_the_password() {
        let e = DbTarget::parse("postgresql://u:secret@h:port/bb").unwrap_err();
        assert!(e.to_string().contains("port is not a number"), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(DbTarget::parse("just words").is_err());
    }
}
