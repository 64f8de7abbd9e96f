//! The servers' one-command example (examples/server/demo.sh) runs as docs/server.md shows it.

use std::path::Path;

use crate::common::aviso_binary;

#[test]
fn the_servers_example_runs_as_documented() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("bash")
        .arg(repository.join("examples/server/demo.sh"))
        .env("AVISO", aviso_binary())
        .env("AVISO_REST", env!("CARGO_BIN_EXE_aviso-rest"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "200 {\"message\":\"Notification successfully submitted\"}",
        "400 {\"message\":\"Missing required attributes: {'id'}\"}",
        "\"payload\": \"Landed\"",
        "\"payload\": \"Landed late\"",
        "aviso_rest_notifications_total{event=\"flight\",outcome=\"submitted\"} 2",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected} not in\n{stdout}\n{stderr}"
        );
    }
    std::fs::remove_dir_all(repository.join("examples/server/state")).unwrap();
}
