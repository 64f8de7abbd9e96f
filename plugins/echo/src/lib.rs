//! The `echo` trigger: prints the notification as pyaviso does, JSON with indent 4 and sorted
//! keys (`json.dumps(notification, indent=4, sort_keys=True)`), on stdout.

use aviso_sdk::{Config, Error, Notification, Trigger, log, pyjson};

struct Echo;

impl Trigger for Echo {
    fn run(_config: &Config, notification: &Notification) -> Result<(), Error> {
        log::debug("Starting Echo Trigger...");
        println!("{}", pyjson::dumps(&notification.to_json(), Some(4), true));
        log::debug("Echo Trigger completed");
        Ok(())
    }
}

aviso_sdk::export_trigger!(Echo);
