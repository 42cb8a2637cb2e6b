//! Integration tests without a browser: one binary, one module per area.

mod alerts;
mod api;
mod cli;
mod cluster;
mod deploy;
mod limits;
mod plugins;
mod reload;
mod store;
mod webhooks;
