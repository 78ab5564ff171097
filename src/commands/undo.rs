//! `kubectl ai undo [ID]`: put back what a recorded change altered, through the plan pipeline.

use std::io::Write;

use crate::context::Scope;
use crate::error::Error;
use crate::plan;
use crate::session::Session;

pub(crate) async fn run(
    session: &Session,
    id: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let record = session.history.find(id)?;
    let (cluster, _) = session.live_cluster("undo").await?;
    if record.cluster != cluster.description {
        return Err(Error::PlanRefused(format!(
            "change {} was applied to {}, but the current cluster is {}; switch to that context first",
            record.id, record.cluster, cluster.description
        ))
        .into());
    }
    let plan = plan::history::undo_plan(&record);
    plan::execute::run(
        &cluster,
        &Scope::AllNamespaces,
        plan,
        &session.plan_options(),
        out,
    )
    .await
}
