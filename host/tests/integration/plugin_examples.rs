//! The documented example plugins run under the host: the Rust one (built by host/build.rs) and
//! the Python one (built with componentize-py by `scripts/test.sh`, which sets
//! `AVISO_PYTHON_PLUGIN`; without it that test is skipped locally and fails under CI).

use crate::common;

use crate::common::{FLIGHT_KEY, flight, load, runtime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_example_writes_the_flight_board() {
    let dir = tempfile::tempdir().unwrap();
    let board = dir.path().join("board.txt");
    let (runtime, _) = runtime();
    let yaml = format!(
        "      - type: plugin
        path: {plugins}/flight_board.wasm
        config:
          board: {board}
          airline: AZ
        allow:
          write: [{dir}]
",
        plugins = aviso_dev_guests::WASM_DIR,
        board = board.display(),
        dir = dir.path().display()
    );
    let triggers = load(&runtime, &yaml).await;
    let outcome = triggers.run(&flight(Some("Landed")), FLIGHT_KEY, 1).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(&board).unwrap(),
        "20210101 FCO AZ203 Landed\n"
    );

    // Without the write grant it cannot touch the board.
    let denied = yaml.replace(
        &format!(
            "        allow:\n          write: [{}]\n",
            dir.path().display()
        ),
        "",
    );
    let triggers = load(&runtime, &denied).await;
    let outcome = triggers.run(&flight(Some("Landed")), FLIGHT_KEY, 2).await;
    let error = outcome.triggers[0].result.clone().unwrap_err();
    assert!(
        error.starts_with(&format!("cannot write {}", board.display())),
        "{error}"
    );

    // Its configuration is checked at load.
    let broken = format!(
        "      - type: plugin\n        path: {}\n",
        aviso_dev_guests::component("flight_board")
    );
    let error = runtime
        .load(&common::specs(&broken))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("board is a mandatory field"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_example_runs_under_the_host() {
    let path = match std::env::var("AVISO_PYTHON_PLUGIN") {
        Ok(path) => path,
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("AVISO_PYTHON_PLUGIN must be set under CI")
        }
        Err(_) => {
            eprintln!("AVISO_PYTHON_PLUGIN not set: skipping the Python plugin test");
            return;
        }
    };
    let (runtime, output) = runtime();
    let yaml = format!(
        "      - type: plugin\n        path: {path}\n        config: {{prefix: Arrival}}\n        limits: {{memory: 128}}\n"
    );
    let triggers = load(&runtime, &yaml).await;
    for round in 1..=2 {
        let outcome = triggers
            .run(&flight(Some("Landed")), FLIGHT_KEY, round)
            .await;
        assert!(outcome.all_succeeded(), "{outcome:?}");
    }
    assert_eq!(
        output.contents(),
        "Arrival: flight AZ203 at FCO: Landed\n".repeat(2)
    );

    let invalid = format!(
        "      - type: plugin\n        path: {path}\n        config: {{prefix: 3}}\n        limits: {{memory: 128}}\n"
    );
    let error = runtime
        .load(&common::specs(&invalid))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("prefix must be a string"), "{error}");
}
