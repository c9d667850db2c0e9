//! How routing at the load balancer is shown: the `routing status` / `routing resume` table, the
//! ROUTING column of `masters list` and `start`, and the `Routing:` line of `masters show`.

use bbctl_api::{RoutingAction, RoutingState, StartRouting};
use comfy_table::Table;

use super::tables::{Style, opt, table};
use crate::report::RoutingRow;

/// `routing status` / `routing resume`.
pub fn routing(row: &RoutingRow, style: Style) -> Table {
    let mut header = vec!["MASTER", "HOOK"];
    if row.before.is_some() {
        header.push("BEFORE");
    }
    header.extend(["ROUTING", "REASON"]);
    let mut t = table(style, &header);
    let mut cells = vec![row.master.clone(), row.hook.clone()];
    if let Some(before) = row.before {
        cells.push(before.as_str().to_owned());
    }
    cells.extend([row.routing.as_str().to_owned(), opt(row.reason.as_deref())]);
    t.add_row(cells);
    t
}

/// The routing state, `unknown (reason)` when the load balancer could not be asked (the
/// `masters show` line).
pub fn state(routing: Option<RoutingState>, reason: Option<&str>) -> String {
    match (routing, reason) {
        (Some(RoutingState::Unknown), Some(why)) => format!("unknown ({why})"),
        (routing, _) => opt(routing.map(RoutingState::as_str)),
    }
}

/// What a start did about routing, in a few words (the ROUTING column of `start`).
pub fn after_start(r: &StartRouting) -> String {
    let states = |what: &str| {
        if r.before == r.after {
            format!("{what} ({})", r.after.as_str())
        } else {
            format!("{what} ({} -> {})", r.before.as_str(), r.after.as_str())
        }
    };
    match r.action {
        RoutingAction::Resumed => states("back in rotation"),
        RoutingAction::InRotation => states("in rotation"),
        RoutingAction::KeptOut => states("kept out of rotation"),
        RoutingAction::LeftOut => states("left out of rotation"),
        RoutingAction::HeldByDrain => states("held out by a drain"),
        RoutingAction::Unmanaged => "unmanaged".to_owned(),
        RoutingAction::Failed => states("not changed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(action: RoutingAction, before: RoutingState, after: RoutingState) -> StartRouting {
        StartRouting {
            hook: "haproxy".into(),
            action,
            before,
            after,
            message: String::new(),
        }
    }

    #[test]
    fn a_start_says_whether_the_master_is_back_in_rotation() {
        use RoutingState::*;
        let cases = [
            (
                RoutingAction::Resumed,
                Maint,
                Ready,
                "back in rotation (maint -> ready)",
            ),
            (
                RoutingAction::KeptOut,
                Maint,
                Maint,
                "kept out of rotation (maint)",
            ),
            (
                RoutingAction::LeftOut,
                Maint,
                Maint,
                "left out of rotation (maint)",
            ),
            (
                RoutingAction::InRotation,
                Ready,
                Ready,
                "in rotation (ready)",
            ),
            (RoutingAction::Unmanaged, Unmanaged, Unmanaged, "unmanaged"),
            (
                RoutingAction::Failed,
                Unknown,
                Unknown,
                "not changed (unknown)",
            ),
        ];
        for (action, before, after, text) in cases {
            assert_eq!(after_start(&start(action, before, after)), text);
        }
    }

    #[test]
    fn an_unknown_state_carries_its_reason() {
        assert_eq!(
            state(Some(RoutingState::Unknown), Some("connection refused")),
            "unknown (connection refused)"
        );
        assert_eq!(state(Some(RoutingState::Maint), None), "maint");
        assert_eq!(state(None, None), "-");
    }
}
