//! The `wa-sim` binary: the ready line, both ports serving, a clean stop on SIGTERM.

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wa_sim::{ControlClient, Ready};

#[tokio::test]
async fn binary_prints_its_ports_serves_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wa-sim"))
        .args(["--https-port", "0", "--control-port", "0", "--qr-refs", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wa-sim starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("a line on stdout");
    let ready: Ready = serde_json::from_str(line.trim()).expect("the ready line is JSON");
    let keys: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&line).unwrap().keys().cloned().collect();
    assert_eq!(keys, ["control", "https"]);
    assert!(ready.https != 0 && ready.control != 0 && ready.https != ready.control);

    let status = ControlClient::new(format!("http://127.0.0.1:{}", ready.control))
        .status()
        .await
        .expect("the control API answers");
    assert!(status.pages.is_empty());
    tokio::net::TcpStream::connect(("127.0.0.1", ready.https)).await.expect("the https port accepts connections");

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("wa-sim did not stop on SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "clean exit: {exit:?}");
}
