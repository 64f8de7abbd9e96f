//! pyaviso's UDP telemetry (aviso-monitoring's collectors): when `monitoring.enabled`, every
//! `frequency` seconds one JSON datagram per collector that measured something goes to the
//! monitoring server, so an existing aviso-monitoring receiver keeps working.
//!
//! `{"telemetry_type": t, "component_name": c, "hostname": h, "time": <epoch seconds>,
//!   "telemetry": {...}}`, where a time collector's telemetry is
//! `{<t>_counter, <t>_avg, <t>_max, <t>_min}` (seconds; sub-measurements `<t>_<sub>_...` in the
//! same datagram) and a unique-count collector's `{<t>_counter, <t>_values}`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

/// The `monitoring:` section (pyaviso's collector configuration).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringSettings {
    pub enabled: bool,
    pub transmitter: TransmitterSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransmitterSettings {
    pub monitoring_server_host: String,
    pub monitoring_server_port: u16,
    pub component_name: String,
    /// Seconds between datagrams (pyaviso's comment says minutes; its code, seconds).
    pub frequency: f64,
}

impl Default for TransmitterSettings {
    fn default() -> Self {
        TransmitterSettings {
            monitoring_server_host: "127.0.0.1".into(),
            monitoring_server_port: 1111,
            component_name: "TBD".into(),
            frequency: 2.0,
        }
    }
}

impl MonitoringSettings {
    /// The settings of `sources`' component: the `AVISO_MONITORING_*` variables over the
    /// file's, and the component's name where the file left pyaviso's placeholder.
    pub fn for_component(self, sources: &crate::settings::Sources) -> Self {
        let mut settings = self.with_environment(|name| sources.variable(name));
        if settings.transmitter.component_name == "TBD" {
            settings.transmitter.component_name = sources.component.to_string();
        }
        settings
    }

    /// The `AVISO_MONITORING_*` variables over the file's settings.
    fn with_environment(mut self, variable: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(enabled) = variable("AVISO_MONITORING_ENABLED") {
            self.enabled = aviso::yaml::parse_yaml_bool(&enabled).unwrap_or(false);
        }
        if let Some(host) = variable("AVISO_MONITORING_SERVER_HOST") {
            self.transmitter.monitoring_server_host = host;
        }
        if let Some(port) = variable("AVISO_MONITORING_SERVER_PORT").and_then(|p| p.parse().ok()) {
            self.transmitter.monitoring_server_port = port;
        }
        self
    }
}

#[derive(Default)]
struct TimeBuffer {
    /// By sub-name ("" for the main measurement): every duration measured, in seconds.
    measurements: BTreeMap<String, Vec<f64>>,
}

/// Durations of one kind (`rest_resp_time`, `auth_resp_time`), buffered until sent.
#[derive(Clone)]
pub struct TimeCollector {
    telemetry_type: &'static str,
    buffer: Option<Arc<Mutex<TimeBuffer>>>,
}

impl TimeCollector {
    /// Records a duration; `sub` names a part of it (`att`, `ats`, `be`), or "".
    pub fn record(&self, sub: &str, duration: Duration) {
        if let Some(buffer) = &self.buffer {
            buffer
                .lock()
                .expect("telemetry lock")
                .measurements
                .entry(sub.to_string())
                .or_default()
                .push(duration.as_secs_f64());
        }
    }

    fn drain(&self) -> Option<Value> {
        let buffer = self.buffer.as_ref()?;
        let measurements = std::mem::take(&mut buffer.lock().expect("telemetry lock").measurements);
        if measurements.values().all(Vec::is_empty) {
            return None;
        }
        let mut telemetry = serde_json::Map::new();
        for (sub, values) in measurements.into_iter().filter(|(_, v)| !v.is_empty()) {
            let name = if sub.is_empty() {
                self.telemetry_type.to_string()
            } else {
                format!("{}_{sub}", self.telemetry_type)
            };
            let sum: f64 = values.iter().sum();
            let max = values.iter().copied().fold(f64::MIN, f64::max);
            let min = values.iter().copied().fold(f64::MAX, f64::min);
            telemetry.insert(format!("{name}_counter"), values.len().into());
            telemetry.insert(format!("{name}_avg"), (sum / values.len() as f64).into());
            telemetry.insert(format!("{name}_max"), max.into());
            telemetry.insert(format!("{name}_min"), min.into());
        }
        Some(Value::Object(telemetry))
    }
}

/// Distinct values of one kind (`auth_users_counter`: users), buffered until sent.
#[derive(Clone)]
pub struct UniqueCountCollector {
    telemetry_type: &'static str,
    buffer: Option<Arc<Mutex<Vec<String>>>>,
}

impl UniqueCountCollector {
    pub fn record(&self, value: &str) {
        if let Some(buffer) = &self.buffer {
            let mut values = buffer.lock().expect("telemetry lock");
            if !values.iter().any(|v| v == value) {
                values.push(value.to_string());
            }
        }
    }

    fn drain(&self) -> Option<Value> {
        let values = std::mem::take(&mut *self.buffer.as_ref()?.lock().expect("telemetry lock"));
        if values.is_empty() {
            return None;
        }
        let name = self.telemetry_type;
        Some(json!({format!("{name}_counter"): values.len(), format!("{name}_values"): values}))
    }
}

enum Collector {
    Time(TimeCollector),
    Unique(UniqueCountCollector),
}

/// The collectors of one server and the task that sends them.
pub struct Telemetry {
    settings: MonitoringSettings,
    collectors: Vec<(&'static str, Collector)>,
}

impl Telemetry {
    pub fn new(settings: MonitoringSettings) -> Telemetry {
        Telemetry {
            settings,
            collectors: Vec::new(),
        }
    }

    pub fn time_collector(&mut self, telemetry_type: &'static str) -> TimeCollector {
        let collector = TimeCollector {
            telemetry_type,
            buffer: self.settings.enabled.then(Default::default),
        };
        self.collectors
            .push((telemetry_type, Collector::Time(collector.clone())));
        collector
    }

    pub fn unique_count_collector(&mut self, telemetry_type: &'static str) -> UniqueCountCollector {
        let collector = UniqueCountCollector {
            telemetry_type,
            buffer: self.settings.enabled.then(Default::default),
        };
        self.collectors
            .push((telemetry_type, Collector::Unique(collector.clone())));
        collector
    }

    /// Sends the datagrams every `frequency` seconds, for ever (nothing when disabled). A
    /// monitoring server that is down costs nothing: UDP is fire and forget.
    pub fn spawn(self) {
        if !self.settings.enabled {
            return;
        }
        let transmitter = self.settings.transmitter.clone();
        let hostname = aviso::store::hostname();
        tokio::spawn(async move {
            let socket = match tokio::net::UdpSocket::bind("0.0.0.0:0").await {
                Ok(socket) => socket,
                Err(e) => {
                    tracing::warn!("Telemetry is not sent: cannot open a UDP socket: {e}");
                    return;
                }
            };
            let target = format!(
                "{}:{}",
                transmitter.monitoring_server_host, transmitter.monitoring_server_port
            );
            let period = Duration::from_secs_f64(transmitter.frequency.max(0.1));
            loop {
                tokio::time::sleep(period).await;
                for (telemetry_type, collector) in &self.collectors {
                    let telemetry = match collector {
                        Collector::Time(c) => c.drain(),
                        Collector::Unique(c) => c.drain(),
                    };
                    let Some(telemetry) = telemetry else { continue };
                    let time = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64());
                    let datagram = json!({
                        "telemetry_type": telemetry_type,
                        "component_name": transmitter.component_name,
                        "hostname": hostname,
                        "time": time,
                        "telemetry": telemetry,
                    });
                    if let Err(e) = socket
                        .send_to(datagram.to_string().as_bytes(), &target)
                        .await
                    {
                        tracing::debug!("telemetry to {target} not sent: {e}");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> Telemetry {
        Telemetry::new(MonitoringSettings {
            enabled: true,
            ..Default::default()
        })
    }

    #[test]
    fn time_telemetry_has_pyavisos_fields_per_sub_measurement() {
        let mut telemetry = enabled();
        let collector = telemetry.time_collector("auth_resp_time");
        collector.record("", Duration::from_millis(100));
        collector.record("", Duration::from_millis(300));
        collector.record("be", Duration::from_millis(50));
        let value = collector.drain().unwrap();
        assert_eq!(value["auth_resp_time_counter"], 2);
        assert!((value["auth_resp_time_avg"].as_f64().unwrap() - 0.2).abs() < 1e-9);
        assert!((value["auth_resp_time_max"].as_f64().unwrap() - 0.3).abs() < 1e-9);
        assert!((value["auth_resp_time_min"].as_f64().unwrap() - 0.1).abs() < 1e-9);
        assert_eq!(value["auth_resp_time_be_counter"], 1);
        assert!(
            collector.drain().is_none(),
            "sent measurements are not sent again"
        );
    }

    #[test]
    fn unique_counts_count_each_value_once_and_nothing_is_kept_when_disabled() {
        let mut telemetry = enabled();
        let users = telemetry.unique_count_collector("auth_users_counter");
        for user in ["apple", "pear", "apple"] {
            users.record(user);
        }
        assert_eq!(
            users.drain().unwrap(),
            json!({"auth_users_counter_counter": 2, "auth_users_counter_values": ["apple", "pear"]})
        );
        let mut disabled = Telemetry::new(MonitoringSettings::default());
        let users = disabled.unique_count_collector("auth_users_counter");
        users.record("apple");
        assert!(users.drain().is_none());
    }
}
