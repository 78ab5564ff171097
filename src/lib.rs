//! kubectl-ai: find what is broken in a Kubernetes cluster, from the cluster's own facts.
//!
//! The data flows one way: a source ([`cluster`]) fills a [`context::Context`], the analyzers
//! ([`analyze`]) turn it into findings, and [`render`] prints them; plans go through [`plan`].
//! `commands` holds one module per command over that engine, `session` the settings resolved
//! once from flags, environment and config file. `main.rs` only parses arguments, sets up logging
//! and maps the outcome to an exit code. docs/architecture.md has the map.

// `pub` inside a crate-private module says nothing and hides dead code from the compiler:
// items are `pub(crate)` unless the `testing` module re-exports them.
#![warn(unreachable_pub)]

pub(crate) mod analyze;
pub(crate) mod cli;
pub(crate) mod cluster;
pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod context;
pub(crate) mod deploy;
pub(crate) mod error;
pub(crate) mod generate;
pub(crate) mod llm;
pub(crate) mod mcp;
pub(crate) mod metrics;
pub(crate) mod plan;
pub(crate) mod prometheus;
pub(crate) mod quantity;
pub(crate) mod recommend;
pub(crate) mod render;
pub(crate) mod selector;
pub(crate) mod session;
pub(crate) mod sizing;
pub(crate) mod target;
pub(crate) mod ui;

pub use cli::Cli;
pub use commands::run;
pub use error::{Error, exit};

/// What the integration tests, the test fakes and the benches use of the engine: one list, so the
/// rest of the crate stays private and the compiler can report what nothing uses.
#[doc(hidden)]
pub mod testing {
    pub use crate::cluster::kinds::{self, Kind};
    pub use crate::cluster::logs::{Tail, dump_block, parse_dump};
    pub use crate::cluster::snapshot::{self, Root};
    pub use crate::commands::Intent;
    pub use crate::commands::ask::{QUESTION_PROMPT, SYSTEM_PROMPT};
    pub use crate::config::DEFAULT_MAX_CONTEXT_TOKENS;
    pub use crate::context::{Context, ObjectRef};
    pub use crate::llm::prompt::{CLOSE, OPEN, objects_named};
    pub use crate::llm::tokens::count as count_tokens;
    pub use crate::llm::{Grounding, tools};
    pub use crate::plan::diff::clean;
    pub use crate::plan::proposal::schema as proposal_schema;
    pub use crate::plan::{apply_rank, kind_named};
    pub use crate::quantity::{bytes as quantity_bytes, millicores};
}
