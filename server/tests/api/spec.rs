//! The agent's operations as `server/openapi.yaml` lists them (method, path template), so that
//! tests covering "every route" pick up new routes without being edited. `openapi::
//! every_route_is_documented` ties the file to the router.

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Upper case: `GET`, `POST`, `PUT`, `DELETE`.
    pub method: String,
    /// As documented, e.g. `/v1/configs/{sha256}`.
    pub template: String,
}

impl Operation {
    /// The path with every `{param}` replaced by `value(param)`.
    pub fn path_with(&self, value: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        let mut rest = self.template.as_str();
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').expect("closing brace") + open;
            out.push_str(&rest[..open]);
            out.push_str(&value(&rest[open + 1..close]));
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The path with plausible parameter values (a well-formed sha256, a valid upgrade id).
    pub fn path(&self) -> String {
        self.path_with(|param| match param {
            "sha256" => "0".repeat(64),
            _ => "u-1".to_owned(),
        })
    }

    pub fn is_v1(&self) -> bool {
        self.template.starts_with("/v1/")
    }
}

/// Every operation of `openapi.yaml`: a path is a line `  /…:`, a method a line `    get:`
/// (the file's two-space indentation).
pub fn operations() -> Vec<Operation> {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let mut ops = Vec::new();
    let mut current: Option<String> = None;
    for line in spec.lines() {
        if let Some(path) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            current = Some(format!("/{path}"));
        } else if !line.starts_with("  ") {
            current = None;
        } else if let (Some(path), Some(method)) = (
            &current,
            line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')),
        ) && ["get", "post", "put", "delete", "patch"].contains(&method)
        {
            ops.push(Operation {
                method: method.to_ascii_uppercase(),
                template: path.clone(),
            });
        }
    }
    assert!(
        ops.iter().filter(|o| o.is_v1()).count() >= 25,
        "openapi.yaml parsing found only {ops:?}"
    );
    ops
}

/// A well-formed request body for `op` (what a legitimate client would send), or `None`.
pub fn valid_body(op: &Operation) -> Option<serde_json::Value> {
    use serde_json::json;
    let body = match (op.method.as_str(), op.template.as_str()) {
        ("GET" | "DELETE", _) => return None,
        ("POST", "/v1/configs") => crate::helpers::stage_body("v1", "c = BuildmasterConfig = {}\n"),
        ("PUT", "/v1/lease") => {
            json!({"holder": "h", "reason": "r", "ttl_secs": 60.0, "kind": "upgrade"})
        }
        ("PUT", "/v1/upgrades/{id}") => json!({"holder": "h", "epoch": 1, "doc": {"x": 1}}),
        ("POST", "/v1/drain") => json!({"deadline_secs": 60.0, "reason": "r"}),
        ("PATCH", "/v1/drain") => json!({"deadline_secs": 60.0}),
        ("POST", "/v1/master/stop") => json!({"mode": "graceful", "reason": "r"}),
        ("POST", "/v1/buildbot-db/backup" | "/v1/buildbot-db/restore") => {
            json!({"upgrade_id": "u-1", "reason": "r"})
        }
        ("POST", "/v1/buildbot-db/upgrade") => json!({
            "upgrade_id": "u-1", "config_sha256": "0".repeat(64), "from_head": "066", "to_head": "067"
        }),
        _ => json!({"reason": "r"}),
    };
    Some(body)
}
