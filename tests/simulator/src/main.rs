//! `wa-sim`: the WhatsApp Web simulator as a process. Prints `{"https": P, "control": Q}` on
//! stdout when ready; stops on SIGINT or SIGTERM.

use std::net::IpAddr;
use std::time::Duration;

use clap::Parser;
use tokio_util::sync::CancellationToken;

/// A local WhatsApp Web (https, as web.whatsapp.com) with a control API.
#[derive(Debug, Parser)]
#[command(name = "wa-sim", version)]
struct Cli {
    /// HTTPS port for the page; 0 = any free port.
    #[arg(long, env = "WA_SIM_HTTPS_PORT", default_value_t = 0)]
    https_port: u16,
    /// Control API port (plain HTTP); 0 = any free port.
    #[arg(long, env = "WA_SIM_CONTROL_PORT", default_value_t = 0)]
    control_port: u16,
    /// Address to listen on.
    #[arg(long, env = "WA_SIM_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Milliseconds each QR ref is shown.
    #[arg(long, env = "WA_SIM_QR_INTERVAL_MS", default_value_t = 20_000)]
    qr_interval_ms: u64,
    /// Refs per QR session before UNPAIRED_IDLE.
    #[arg(long, env = "WA_SIM_QR_REFS", default_value_t = 6)]
    qr_refs: usize,
    /// Milliseconds between CONNECTED and hasSynced = true.
    #[arg(long, env = "WA_SIM_SYNC_DELAY_MS", default_value_t = 1_500)]
    sync_delay_ms: u64,
    /// Milliseconds between ack 1 and ack 2 of a sent message.
    #[arg(long, env = "WA_SIM_ACK_DELAY_MS", default_value_t = 300)]
    ack_delay_ms: u64,
    /// window.Debug.VERSION.
    #[arg(long, env = "WA_SIM_WA_VERSION", default_value = wa_sim::DEFAULT_VERSION)]
    wa_version: String,
    /// Milliseconds after which the late modules register (0 = at once).
    #[arg(long, env = "WA_SIM_LATE_MODULES_MS", default_value_t = 0)]
    late_modules_ms: u64,
    /// Seconds a pairing code stays valid.
    #[arg(long, env = "WA_SIM_PAIRING_CODE_TTL_S", default_value_t = 180)]
    pairing_code_ttl_s: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "wa_sim=info".into()))
        .init();
    let cli = Cli::parse();
    let options = wa_sim::Options {
        bind: cli.bind,
        https_port: cli.https_port,
        control_port: cli.control_port,
        qr_interval: Duration::from_millis(cli.qr_interval_ms),
        qr_refs: cli.qr_refs,
        sync_delay: Duration::from_millis(cli.sync_delay_ms),
        ack_delay: Duration::from_millis(cli.ack_delay_ms),
        version: cli.wa_version,
        late_modules: Duration::from_millis(cli.late_modules_ms),
        pairing_code_ttl: Duration::from_secs(cli.pairing_code_ttl_s),
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        stop.cancel();
    });
    wa_sim::run(options, shutdown).await?;
    Ok(())
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
