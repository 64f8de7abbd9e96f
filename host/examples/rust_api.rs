//! The user guide's Rust API example, complete: the key of a notification, a listener whose
//! trigger is a Rust function, a notification it receives, and a clean stop once it arrived. On
//! the embedded store (`--test`), in a private state folder.
//!
//! `cargo run --example rust_api`

use aviso::config::{CliOverrides, ConfigSources, Program, Settings};
use aviso::listener::TriggerSpec;
use aviso::notification::parse_parameters;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The settings as `aviso --test` would have them (files, AVISO_* variables, options).
    let overrides = CliOverrides {
        test: true,
        ..CliOverrides::default()
    };
    let sources = ConfigSources::from_process(Program::Aviso, None, overrides);
    let (mut settings, _) = Settings::load(&sources)?;
    // Positions and the embedded store in a folder of its own, not in ~/.aviso.
    let state = tempfile::tempdir()?;
    settings.state_dir = Some(state.path().to_path_buf());
    let aviso = aviso::Aviso::load(settings).await?;

    let flight = "event=flight,country=Italy,airport=fco,date=20210101,number=AZ203";
    let keys = aviso.key(&parse_parameters(flight)?)?;
    println!("key: {}", keys.key);

    // A listener whose trigger is a Rust function (pyaviso's `function` trigger).
    let file = state.path().join("flights.yaml");
    std::fs::write(
        &file,
        "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers: [{type: echo}]\n",
    )?;
    let mut sets = aviso.load_listeners(&[file])?;
    let (stop_sender, stop_receiver) = tokio::sync::watch::channel(false);
    sets[0].listeners[0].triggers = vec![TriggerSpec::function(move |n| {
        println!("{} landed", n.request["number"]);
        let _ = stop_sender.send(true);
        Ok(())
    })];
    aviso
        .notify(&parse_parameters(&format!("{flight},payload=Landed"))?)
        .await?;
    // A first run starts at the newest notification; replaying from a minute ago first
    // delivers the one just sent, then the listener goes on live until it is stopped.
    let a_minute_ago = chrono::Utc::now().naive_utc() - chrono::Duration::minutes(1);
    aviso
        .listen_to(sets, true, Some((a_minute_ago, None)), stop_receiver)
        .await?;
    Ok(())
}
