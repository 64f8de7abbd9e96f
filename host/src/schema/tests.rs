use serde_json::json;

use super::*;

fn load(document: Value) -> Result<Schema, SchemaError> {
    Schema::from_value(&document, "test.json")
}

fn flight_with(request: Value, endpoint: Value) -> Value {
    json!({"version": 0.1, "flight": {"endpoint": [endpoint], "request": request}})
}

fn endpoint() -> Value {
    json!({"engine": ["etcd_rest"], "base": "/tmp/aviso/flight", "stem": "/{date}/{number}"})
}

#[test]
fn default_schema_is_pyaviso_flight() {
    let schema = Schema::default_schema();
    assert_eq!(schema.payload_field, "payload");
    let flight = schema.event("flight").unwrap();
    assert_eq!(
        flight.request.keys().collect::<Vec<_>>(),
        vec!["date", "country", "airport", "number"]
    );
    for engine in ["etcd_rest", "etcd_grpc", "file_based"] {
        assert!(flight.endpoint(engine).is_ok(), "{engine}");
    }
}

#[test]
fn base_gets_a_trailing_slash_and_stem_loses_its_leading_one() {
    let request =
        json!({"date": [{"type": "StringHandler"}], "number": [{"type": "StringHandler"}]});
    let schema = load(flight_with(request, endpoint())).unwrap();
    let flight = schema.event("flight").unwrap();
    let values = [("date", "d"), ("number", "n")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let keys = crate::notification::build_keys(flight, &values, "etcd_rest").unwrap();
    assert_eq!(keys.base, "/tmp/aviso/flight/");
    assert_eq!(keys.key, "/tmp/aviso/flight/d/n");
    assert_eq!(
        crate::notification::build_keys(flight, &values, "file_based")
            .unwrap_err()
            .to_string(),
        "Event flight has no endpoint for the file_based engine in the schema"
    );
}

#[test]
fn payload_rename() {
    let mut document = flight_with(
        json!({"date": [{"type": "StringHandler"}], "number": [{"type": "StringHandler"}]}),
        endpoint(),
    );
    document["payload"] = json!("location");
    assert_eq!(load(document).unwrap().payload_field, "location");
}

#[test]
fn malformed_schemas_name_event_key_and_problem() {
    let string = json!([{"type": "StringHandler"}]);
    let request = json!({"date": string, "number": string});
    for (document, expected) in [
        (
            json!([1, 2]),
            "Wrong schema structure in test.json: the schema must be a JSON object",
        ),
        (
            json!({"version": 1}),
            "Wrong schema structure in test.json: the schema defines no event",
        ),
        (
            json!({"flight": {"request": request}}),
            "Wrong schema structure in test.json, event 'flight': 'endpoint' could not be located",
        ),
        (
            json!({"flight": {"endpoint": [], "request": request}}),
            "Wrong schema structure in test.json, event 'flight': 'endpoint' should be a non empty list",
        ),
        (
            json!({"flight": {"endpoint": [endpoint()]}}),
            "Wrong schema structure in test.json, event 'flight': 'request' could not be located",
        ),
        (
            json!({"flight": {"endpoint": [{"base": "/a", "stem": "{date}"}], "request": request}}),
            "Wrong schema structure in test.json, event 'flight': 'engine' in 'endpoint' could not be located",
        ),
        (
            json!({"flight": {"endpoint": [{"engine": ["etcd_rest"], "stem": "{date}"}], "request": request}}),
            "Wrong schema structure in test.json, event 'flight': 'base' in 'endpoint' could not be located",
        ),
        (
            json!({"flight": {"endpoint": [{"engine": ["etcd_rest"], "base": "/a"}], "request": request}}),
            "Wrong schema structure in test.json, event 'flight': 'stem' in 'endpoint' could not be located",
        ),
        (
            flight_with(
                json!({"date": [{"canonic": "%Y"}], "number": string}),
                endpoint(),
            ),
            "Wrong schema structure in test.json, event 'flight', key 'date': 'type' could not be located",
        ),
        (
            flight_with(
                json!({"date": [{"type": "DateHandler", "canonic": "%Y%K"}], "number": string}),
                endpoint(),
            ),
            "Wrong schema structure in test.json, event 'flight', key 'date': unsupported directive '%K' in date format '%Y%K'",
        ),
        (
            flight_with(json!({"date": [], "number": string}), endpoint()),
            "Wrong schema structure in test.json, event 'flight', key 'date': expected a non-empty list of handlers",
        ),
        (
            flight_with(json!({"date": string}), endpoint()),
            "Wrong schema structure in test.json, event 'flight': 'stem' template '{date}/{number}' uses {number}, which is not a key of 'request'",
        ),
        (
            flight_with(
                request.clone(),
                json!({"engine": ["etcd_rest"], "base": "/a/{", "stem": "{date}"}),
            ),
            "Wrong schema structure in test.json, event 'flight': 'base' template '/a/{/'",
        ),
        (
            json!({"flight": "not an event"}),
            "Wrong schema structure in test.json, event 'flight': an event must be a JSON object",
        ),
        (
            json!({"payload": 3, "flight": {"endpoint": [endpoint()], "request": request}}),
            "Wrong schema structure in test.json: 'payload' must be a string",
        ),
    ] {
        let message = load(document.clone()).unwrap_err().to_string();
        assert!(
            message.starts_with(expected),
            "{document}:\n got {message}\nwant {expected}"
        );
    }
    let not_json = Schema::from_json("{", "broken.json")
        .unwrap_err()
        .to_string();
    assert!(
        not_json.starts_with("Wrong schema structure in broken.json: not valid JSON"),
        "{not_json}"
    );
}

#[test]
fn local_schema_wins_over_system_schema_and_default() {
    let home = tempfile::tempdir().unwrap();
    let system = tempfile::tempdir().unwrap();
    let locations = SchemaLocations {
        folders: vec![home.path().to_path_buf(), system.path().to_path_buf()],
    };
    assert!(
        locations.load().unwrap().event("flight").is_ok(),
        "built-in schema when no file exists"
    );

    let ecmwf = include_str!("../../../tests/fixtures/ecmwf/expanded_event_listener_schema.json");
    std::fs::write(system.path().join(SCHEMA_FILE_NAME), ecmwf).unwrap();
    let schema = locations.load().unwrap();
    assert!(
        schema.event("mars").is_ok(),
        "the system schema is read (pyaviso never reads it)"
    );
    assert_eq!(schema.payload_field, "location");

    std::fs::write(home.path().join(SCHEMA_FILE_NAME), DEFAULT_SCHEMA).unwrap();
    let schema = locations.load().unwrap();
    assert!(
        schema.event("flight").is_ok() && schema.event("mars").is_err(),
        "the user's schema comes first"
    );

    std::fs::write(home.path().join(SCHEMA_FILE_NAME), "{\"flight\": 1}").unwrap();
    let err = locations.load().unwrap_err().to_string();
    assert!(
        err.contains(&home.path().join(SCHEMA_FILE_NAME).display().to_string()),
        "{err}"
    );
}

#[test]
fn ecmwf_schema_without_enum_values_is_refused_by_the_generic_parser() {
    let raw = include_str!("../../../tests/fixtures/ecmwf/event_listener_schema.json");
    let err = Schema::from_json(raw, "ecmwf.json").unwrap_err();
    assert_eq!(err.event.as_deref(), Some("dissemination"));
    assert_eq!(err.key.as_deref(), Some("domain"));
    assert!(err.problem.contains("EnumHandler needs 'values'"), "{err}");
}
