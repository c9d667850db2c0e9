//! `bbctl start NAME`: start a master through its agent.

use bbctl_api::OperationRequest;

use crate::cli::StartArgs;
use crate::ctx::Ctx;
use crate::report::{OperationRow, Outcome};

pub async fn run(args: &StartArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let client = ctx.resolve(&args.name).await?;
    let request = OperationRequest {
        reason: args.reason.clone(),
    };
    let result = client.start(&request).await?;
    Ok(super::operation_outcome(OperationRow {
        master: client.name().to_string(),
        result,
    }))
}
