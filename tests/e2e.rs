//! End-to-end tests with real Chromium and the simulator: one binary, one module per area.
//! nextest runs this binary in the `chromium` test group (at most two at a time).

mod api_e2e;
mod behaviours_e2e;
mod browser_e2e;
mod cluster_bus_e2e;
mod cluster_e2e;
mod cluster_ops_e2e;
mod dashboard_e2e;
mod plugins_ts_e2e;
mod restore_e2e;
mod sessions;
mod sessions_crash_e2e;
mod sessions_e2e;
mod site_e2e;
