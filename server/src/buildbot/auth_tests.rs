//! The REST client's login flow against a stub of Buildbot 4.3's www that behaves as a real one
//! did (`super::auth`): `/auth/login` with HTTP basic → 302 and two `TWISTED_SESSION` cookies
//! (anonymous, then the user's), `/` reading `RemoteUserAuth`'s header, `/config` saying whose
//! the session is, and an authz that lets only `admins` control workers (and, optionally, read).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::json;

use super::{BuildbotApi, RestAuth, RestClient, RestError, WorkerAction, WorkerRef};
use crate::secret::Secret;

struct Www {
    users: HashMap<&'static str, &'static str>,
    admins: Vec<&'static str>,
    /// Sessions of an older epoch are invalid (as after a new session secret).
    epoch: AtomicU64,
    restrict_reads: AtomicBool,
    logins: AtomicUsize,
    /// The www auth class `/config` reports.
    auth_name: &'static str,
}

fn session_user(www: &Www, headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let value = cookies
        .split("; ")
        .find_map(|c| c.strip_prefix("TWISTED_SESSION="))?;
    let (epoch, user) = value.split_once('.')?;
    (epoch.parse::<u64>().ok()? == www.epoch.load(Ordering::SeqCst) && user != "anon")
        .then(|| user.to_owned())
}

fn set_cookies(www: &Www, user: Option<&str>) -> Vec<(header::HeaderName, String)> {
    let epoch = www.epoch.load(Ordering::SeqCst);
    let mut out = vec![(
        header::SET_COOKIE,
        format!("TWISTED_SESSION={epoch}.anon; Path=/"),
    )];
    if let Some(u) = user {
        out.push((
            header::SET_COOKIE,
            format!("TWISTED_SESSION={epoch}.{u}; Path=/"),
        ));
    }
    out
}

fn with_cookies(mut resp: Response, cookies: Vec<(header::HeaderName, String)>) -> Response {
    for (name, value) in cookies {
        resp.headers_mut()
            .append(name, value.parse().expect("valid cookie"));
    }
    resp
}

async fn login(State(www): State<Arc<Www>>, headers: HeaderMap) -> Response {
    www.logins.fetch_add(1, Ordering::SeqCst);
    let user = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            let (u, p) = pair.split_once(':')?;
            (www.users.get(u) == Some(&p)).then(|| u.to_owned())
        });
    match user {
        None => StatusCode::UNAUTHORIZED.into_response(),
        Some(u) => with_cookies(
            (StatusCode::FOUND, [(header::LOCATION, "/#/")]).into_response(),
            set_cookies(&www, Some(&u)),
        ),
    }
}

async fn index(State(www): State<Arc<Www>>, headers: HeaderMap) -> Response {
    www.logins.fetch_add(1, Ordering::SeqCst);
    let user = headers
        .get("x-remote-user")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split_once('@'))
        .map(|(u, _realm)| u.to_owned());
    with_cookies(
        "<html/>".into_response(),
        set_cookies(&www, user.as_deref()),
    )
}

async fn config(State(www): State<Arc<Www>>, headers: HeaderMap) -> Response {
    let user = match session_user(&www, &headers) {
        Some(u) => json!({"username": u}),
        None => json!({"anonymous": true}),
    };
    axum::Json(json!({"user": user, "auth": {"name": www.auth_name}})).into_response()
}

fn allowed(www: &Www, headers: &HeaderMap) -> bool {
    session_user(www, headers).is_some_and(|u| www.admins.contains(&u.as_str()))
}

async fn masters(State(www): State<Arc<Www>>, headers: HeaderMap) -> Response {
    if www.restrict_reads.load(Ordering::SeqCst) && !allowed(&www, &headers) {
        let body = json!({"error": "you need to have role 'admins'"});
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    axum::Json(json!({"masters": [], "meta": {"total": 0}})).into_response()
}

async fn control(State(www): State<Arc<Www>>, headers: HeaderMap) -> Response {
    if !allowed(&www, &headers) {
        let body = json!({"jsonrpc": "2.0", "id": 1,
            "error": {"code": -32600, "message": "you need to have role 'admins'"}});
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    axum::Json(json!({"id": 1, "jsonrpc": "2.0", "result": null})).into_response()
}

async fn serve(auth_name: &'static str) -> (Arc<Www>, String) {
    let www = Arc::new(Www {
        users: HashMap::from([("bbctl-agent", "pw"), ("ops", "pw2")]),
        admins: vec!["bbctl-agent"],
        epoch: AtomicU64::new(1),
        restrict_reads: AtomicBool::new(false),
        logins: AtomicUsize::new(0),
        auth_name,
    });
    let app = Router::new()
        .route("/", get(index))
        .route("/auth/login", get(login))
        .route("/config", get(config))
        .route("/api/v2/masters", get(masters))
        .route("/api/v2/workers/{id}", post(control))
        .with_state(www.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (www, url)
}

fn password(user: &str, pw: &str) -> Option<RestAuth> {
    Some(RestAuth::Password {
        user: user.into(),
        password: Secret::new(pw),
    })
}

const W1: WorkerRef<'static> = WorkerRef {
    id: 1,
    name: Some("lnx-01"),
};

async fn pause(client: &RestClient) -> Result<(), RestError> {
    client
        .control_worker(W1, WorkerAction::Pause, "drain")
        .await
}

#[tokio::test]
async fn the_agents_user_logs_in_once_and_controls_workers() {
    let (www, url) = serve("UserPasswordAuth").await;
    let client = RestClient::new(&url, password("bbctl-agent", "pw"));
    pause(&client).await.unwrap();
    client
        .control_worker(W1, WorkerAction::Unpause, "drain")
        .await
        .unwrap();
    client.masters().await.unwrap();
    assert_eq!(www.logins.load(Ordering::SeqCst), 1);
    assert_eq!(client.login_problem().await, None);
}

#[tokio::test]
async fn an_expired_session_is_made_again_and_the_call_retried() {
    let (www, url) = serve("UserPasswordAuth").await;
    let client = RestClient::new(&url, password("bbctl-agent", "pw"));
    pause(&client).await.unwrap();
    www.epoch.fetch_add(1, Ordering::SeqCst);
    pause(&client).await.unwrap();
    assert_eq!(www.logins.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refusals_name_the_call_the_status_and_the_setting_to_fix() {
    let (_www, url) = serve("UserPasswordAuth").await;
    let cases = [
        (
            None,
            "Buildbot refused to pause worker lnx-01: 403 Forbidden (Buildbot: \"you need to \
             have role 'admins'\") — no [master.rest_auth] is configured and the master's authz \
             does not let anonymous users control workers",
        ),
        (
            password("bbctl-agent", "wrong"),
            "Buildbot refused to pause worker lnx-01: 403 Forbidden (Buildbot: \"you need to \
             have role 'admins'\") — the master refused the login of user \"bbctl-agent\" (401 \
             Unauthorized): wrong user or password in master.rest_auth.user / \
             master.rest_auth.password_file",
        ),
        (
            password("ops", "pw2"),
            "Buildbot refused to pause worker lnx-01: 403 Forbidden (Buildbot: \"you need to \
             have role 'admins'\") — the master's authz does not let user \"ops\" \
             ([master.rest_auth]) control workers",
        ),
    ];
    for (auth, want) in cases {
        let client = RestClient::new(&url, auth);
        let err = pause(&client).await.unwrap_err();
        assert!(matches!(err, RestError::Refused { .. }), "{err:?}");
        assert!(err.to_string().starts_with(want), "{err}\nwant: {want}");
        assert!(
            !err.to_string().contains("wrong\""),
            "no password in: {err}"
        );
    }
}

#[tokio::test]
async fn a_wrong_password_is_a_login_problem_and_refused_reads_say_why() {
    let (www, url) = serve("UserPasswordAuth").await;
    let client = RestClient::new(&url, password("bbctl-agent", "wrong"));
    // Anonymous reads still work: the problem is reported, not fatal.
    client.masters().await.unwrap();
    let problem = client.login_problem().await.expect("a login problem");
    assert!(
        problem
            .to_string()
            .contains("master.rest_auth.password_file"),
        "{problem}"
    );
    www.restrict_reads.store(true, Ordering::SeqCst);
    let err = client.masters().await.unwrap_err().to_string();
    assert!(
        err.starts_with("Buildbot refused to read /api/v2/masters: 403 Forbidden"),
        "{err}"
    );
    assert!(err.contains("wrong user or password"), "{err}");
}

#[tokio::test]
async fn the_header_form_logs_in_at_the_index_page() {
    let (_www, url) = serve("RemoteUserAuth").await;
    let header = |value: &str| {
        Some(RestAuth::Header {
            name: "X-Remote-User".into(),
            value: Secret::new(value),
        })
    };
    let client = RestClient::new(&url, header("bbctl-agent@example"));
    pause(&client).await.unwrap();
    // Without the `user@realm` form RemoteUserAuth's default regex wants, no user logs in.
    let client = RestClient::new(&url, header("bbctl-agent"));
    let err = pause(&client).await.unwrap_err().to_string();
    assert!(
        err.contains("did not log in header X-Remote-User") && err.contains("headerRegex"),
        "{err}"
    );
}
