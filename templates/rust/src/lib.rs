//! {{name}}: an Aviso trigger plugin. It logs every notification it gets; put your own action in
//! `run`.
//!
//! Listener:
//! ```yaml
//! triggers:
//!   - type: plugin
//!     path: target/wasm32-wasip2/release/{{crate}}.wasm
//!     config:
//!       prefix: Arrived        # optional
//! ```

use aviso_sdk::{Config, Error, Notification, Trigger, log};

struct Plugin;

impl Trigger for Plugin {
    /// Checked once, when the listener loads: an error here stops the listener from starting.
    fn validate(config: &Config) -> Result<(), Error> {
        config.optional_str("prefix")?;
        Ok(())
    }

    /// Called for every notification the listener receives.
    fn run(config: &Config, notification: &Notification) -> Result<(), Error> {
        let prefix = config
            .optional_str("prefix")?
            .unwrap_or("Notification received");
        log::info(&format!("{prefix}: {}", notification.to_json()));
        Ok(())
    }
}

aviso_sdk::export_trigger!(Plugin);
