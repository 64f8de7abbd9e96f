use serde_json::json;

use super::*;

fn common(settings: Value, kind: &str) -> Result<CommonSettings, String> {
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
    assert_eq!(
        grants.dirs,
        vec![DirGrant {
            path: dir.path().to_path_buf(),
            writable: true
        }]
    );
    assert_eq!(grants.http, None);
    assert!(!grants.command);
    assert_eq!(config["path"], path.display().to_string());
}

#[test]
fn labels_name_the_main_setting() {
    let spec = |settings: Value| TriggerSpec {
        kind: settings["type"].as_str().unwrap().to_string(),
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
