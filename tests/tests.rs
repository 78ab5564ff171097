//! The integration tests: one binary, with the fake API server and helpers in `support`.

mod support;

mod ask;
mod cli;
mod deploy;
mod diagnose;
mod faults;
mod fixtures;
mod generate;
mod harness;
mod images;
mod kubectl;
mod live;
mod manifests;
mod mcp;
mod plan;
mod prometheus;
mod quality;
mod recommend;
mod release;
