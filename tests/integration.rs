//! Integration tests without a browser: one binary, one module per area.

mod alerts;
mod api;
mod cli;
mod cluster;
mod cluster_bus;
mod defaults;
mod deploy;
mod history;
mod limits;
mod owner_tokens;
mod plugins;
mod plugins_ts;
mod reload;
mod silences;
mod store;
mod suspension;
mod webhooks;
mod webhooks_cluster;
mod webhooks_durable;
