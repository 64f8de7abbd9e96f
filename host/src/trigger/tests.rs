use serde_json::json;

use super::*;

fn common(settings: Value, kind: &str) -> Result<CommonSettings, String> {
    let kind = TriggerKind::from_listener_file(kind).expect("a trigger type");
    CommonSettings::read(settings.as_object().unwrap(), kind)
}

#[test]
fn default_timeouts_depend_on_the_trigger_type() {
    assert_eq!(
        common(json!({}), "echo").unwrap().timeout,
        Duration::from_secs(30)
    );
    assert_eq!(
        common(json!({}), "post").unwrap().timeout,
        Duration::from_secs(120)
    );
    assert_eq!(
        common(json!({}), "command").unwrap().timeout,
        Duration::from_secs(6 * 3600)
    );
    let custom = common(
        json!({"timeout": 2.5, "retries": 3, "required": true}),
        "echo",
    )
    .unwrap();
    assert_eq!(
        custom,
        CommonSettings {
            timeout: Duration::from_millis(2500),
            retries: 3,
            required: true
        }
    );
    assert!(common(json!({"retries": 101}), "echo").is_err());
    assert!(common(json!({"timeout": 0}), "echo").is_err());
}

#[test]
fn the_log_file_is_made_absolute_and_only_its_directory_is_granted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.log");
    let settings = json!({"type": "log", "path": path.display().to_string()});
    let (grants, config) = log_grants(settings.as_object().unwrap().clone()).unwrap();
    assert_eq!(grants.dirs, vec![DirGrant::open(dir.path(), true).unwrap()]);
    assert_eq!(grants.dirs[0].real_path, dir.path().canonicalize().unwrap());
    assert_eq!(grants.http, None);
    assert!(!grants.command);
    assert_eq!(config["path"], path.display().to_string());
}

#[test]
fn labels_name_the_main_setting() {
    let spec = |settings: Value| TriggerSpec {
        kind: TriggerKind::from_listener_file(settings["type"].as_str().unwrap()).unwrap(),
        settings,
        function: None,
    };
    assert_eq!(label(&spec(json!({"type": "echo"}))), "echo");
    assert_eq!(
        label(&spec(json!({"type": "log", "path": "/tmp/l"}))),
        "log (/tmp/l)"
    );
    assert_eq!(
        label(&spec(
            json!({"type": "post", "protocol": {"url": "http://h/"}})
        )),
        "post (http://h/)"
    );
}

#[test]
fn timeouts_above_a_week_are_errors_not_panics() {
    for (timeout, found) in [
        // serde_json writes the number back as 1e+20.
        (json!(1e20), "1e+20"),
        (json!(604801), "604801"),
        (json!(-1), "-1"),
        (json!(1e-12), "1e-12"),
        (json!("soon"), "\"soon\""),
    ] {
        assert_eq!(
            common(json!({ "timeout": timeout }), "command").unwrap_err(),
            format!(
                "timeout must be a positive number of seconds up to 604800 (7 days), found {found}"
            )
        );
    }
    assert_eq!(
        common(json!({"timeout": 604800}), "command")
            .unwrap()
            .timeout,
        MAX_TRIGGER_TIMEOUT
    );
}

#[test]
fn plugin_limits_and_the_site_policy_are_bounded_like_trigger_timeouts() {
    let refused = |section: Value| PluginPolicy::from_json(&section).unwrap_err();
    assert_eq!(
        refused(json!({"limits": {"timeout": 1e20}})),
        "plugins.limits.timeout must be a positive number of seconds up to 604800 (7 days), found 1e+20"
    );
    assert_eq!(
        refused(json!({"defaults": {"timeout": 1e20}})),
        "plugins.defaults.timeout must be a positive number of seconds up to 604800 (7 days), found 1e+20"
    );
    // 2^44 MiB is 2^64 bytes: shifted without a check it wrapped to 0 and was accepted.
    assert_eq!(
        refused(json!({"limits": {"memory": 17_592_186_044_416_u64}})),
        "plugins.limits.memory must be a whole number of MiB from 1 to 1024, found 17592186044416"
    );

    let plugin = json!({"type": "plugin", "path": "p.wasm", "limits": {"timeout": 1e20}});
    let read = policy::UserPlugin::read(
        plugin.as_object().unwrap(),
        &PluginPolicy::default(),
        &common(json!({}), "plugin").unwrap(),
    );
    assert_eq!(
        read.err().as_deref(),
        Some(
            "limits.timeout must be a positive number of seconds up to 604800 (7 days), found 1e+20"
        )
    );
}
