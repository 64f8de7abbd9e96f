//! Every listener error of reference §6, and the listeners of the user guide.

use super::*;

fn flight_schema() -> Schema {
    Schema::default_schema()
}

fn load(text: &str) -> Result<ListenerSet, ListenerError> {
    let document = yaml::parse(text).unwrap();
    parse_listeners(
        &document,
        "listener file test.yaml",
        &flight_schema(),
        "etcd_rest",
    )
}

fn error_of(text: &str) -> String {
    load(text).unwrap_err().message
}

#[test]
fn user_guide_listener_with_all_keys() {
    let set = load(
        "listeners:
  - event: flight
    request:
      country: Italy
      date: 20210101
      airport: [FCO, cia]
      number: AZ203
    triggers:
      - type: echo
",
    )
    .unwrap();
    let listener = &set.listeners[0];
    assert_eq!(listener.event, "flight");
    assert_eq!(listener.request["country"], vec!["italy"]);
    assert_eq!(listener.request["airport"], vec!["FCO", "CIA"]);
    assert_eq!(listener.request["date"], vec!["20210101"]);
    assert_eq!(listener.watch_keys, vec!["/tmp/aviso/flight/"]);
    assert_eq!(listener.triggers.len(), 1);
    assert_eq!(listener.triggers[0].kind, "echo");
}

#[test]
fn several_listeners_and_trigger_settings() {
    let set = load(
        "listeners:
  - event: flight
    request:
      country: italy
    triggers:
      - type: command
        working_dir: $HOME/aviso
        command: ./script.sh --date ${request.date}
        environment:
          AIRPORT: ${request.airport}
  - event: flight
    request:
      number: AZ203
    triggers:
      - type: Log
        path: /tmp/aviso/log.txt
      - type: post
        protocol:
          type: cloudevents_http
          url: http://localhost:8080
          timeout: 30
          verify: no
",
    )
    .unwrap();
    assert_eq!(set.listeners.len(), 2);
    let command = &set.listeners[0].triggers[0];
    assert_eq!(command.kind, "command");
    assert_eq!(
        command.settings["command"],
        "./script.sh --date ${request.date}"
    );
    assert_eq!(
        command.settings["environment"]["AIRPORT"],
        "${request.airport}"
    );
    assert_eq!(set.listeners[1].triggers[0].kind, "log");
    let post = &set.listeners[1].triggers[1].settings;
    assert_eq!(post["protocol"]["timeout"], 30);
    assert_eq!(post["protocol"]["verify"], false);
}

#[test]
fn every_listener_error_has_pyaviso_wording() {
    for (text, message) in [
        ("", "Event listeners definition cannot be empty"),
        (
            "listeners: []\n",
            "Event listeners definition cannot be empty",
        ),
        (
            "something: 1\n",
            "Event listeners definition must start with the keyword 'listeners'",
        ),
        (
            "listeners:\n",
            "Event listeners definition must start with the keyword 'listeners'",
        ),
        ("listeners:\n  - flight\n", "Wrong file structure"),
        (
            "listeners:\n  - request: {country: italy}\n    triggers: [{type: echo}]\n",
            "Wrong file structure, 'event' could not be located",
        ),
        (
            "listeners:\n  - event: flight2\n    request: {country: italy}\n    triggers: [{type: echo}]\n",
            "Wrong schema structure, flight2 could not be located",
        ),
        (
            "listeners:\n  - event: flight\n    triggers: [{type: echo}]\n",
            "Wrong file structure, 'request' could not be located",
        ),
        (
            "listeners:\n  - event: flight\n    request: {country: italy}\n",
            "'triggers' is a mandatory field",
        ),
        (
            "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers:\n",
            "At least one trigger must be defined",
        ),
        (
            "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers: [{path: x}]\n",
            "'type' is a mandatory field in trigger",
        ),
        (
            "listeners:\n  - event: flight\n    request: {country: italy}\n    triggers: [{type: Email}]\n",
            "Trigger type email not recognised",
        ),
        (
            "listeners:\n  - event: flight\n    request: {continent: europe}\n    triggers: [{type: echo}]\n",
            "Key continent is not allowed",
        ),
        (
            "listeners:\n  - event: flight\n    request: {date: 2021-01-01}\n    triggers: [{type: echo}]\n",
            "Value 2021-01-01 is not valid for key date",
        ),
    ] {
        let got = error_of(text);
        assert!(
            got.starts_with(message),
            "for {text:?}: got {got:?}, wanted {message:?}"
        );
    }
}

#[test]
fn errors_say_which_file_and_listener() {
    let err = load(
        "listeners:
  - event: flight
    request: {country: italy}
    triggers: [{type: echo}]
  - event: flight
    request: {country: italy}
",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Not able to load listener file test.yaml, listener 2: 'triggers' is a mandatory field"
    );

    let missing = std::path::Path::new("/nonexistent/listener.yaml");
    let err = load_listener_file(missing, &flight_schema(), "etcd_rest").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Not able to load listener file /nonexistent/listener.yaml: "),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "listeners: [\n").unwrap();
    let err = load_listener_file(&bad, &flight_schema(), "etcd_rest").unwrap_err();
    assert!(err.to_string().contains("bad.yaml"), "{err}");
}

#[test]
fn missing_base_placeholder_is_reported() {
    // A schema whose base depends on the request, like ECMWF's dissemination.
    let schema = crate::notification::tests::ecmwf_schema();
    let document = yaml::parse("listeners:\n  - event: dissemination\n    request: {class: od}\n    triggers: [{type: echo}]\n").unwrap();
    let err = parse_listeners(&document, "x", &schema, "etcd_rest").unwrap_err();
    // `destination` is both required and in the base: the required check speaks first.
    assert_eq!(err.message, "destination is a mandatory key");

    let relaxed = include_str!("../../../tests/fixtures/ecmwf/expanded_event_listener_schema.json")
        .replace("\"required\": true", "\"required\": false");
    let schema = Schema::from_json(&relaxed, "relaxed").unwrap();
    let err = parse_listeners(&document, "x", &schema, "etcd_rest").unwrap_err();
    assert_eq!(err.message, "Wrong listener file: destination required");
}

#[test]
fn watch_keys_use_canonical_values_and_expand_lists() {
    let schema = crate::notification::tests::ecmwf_schema();
    let document = yaml::parse(
        "listeners:
  - event: dissemination
    request:
      destination: [foo, BAR, Foo]
      class: od
      time: [0, 12]
    triggers: [{type: echo}]
",
    )
    .unwrap();
    let set = parse_listeners(&document, "x", &schema, "etcd_rest").unwrap();
    let listener = &set.listeners[0];
    // pyaviso's bug P3 listened on /ec/diss/foo/ while notifications go to /ec/diss/FOO/.
    assert_eq!(listener.watch_keys, vec!["/ec/diss/FOO/", "/ec/diss/BAR/"]);
    assert_eq!(listener.request["time"], vec!["00", "12"]);
}

#[test]
fn yaml_typing_quirks_keep_the_written_text() {
    let set = load(
        "listeners:
  - event: flight
    request:
      number: 012
      airport: yes
      country: off
    triggers: [{type: echo}]
",
    )
    .unwrap();
    let request = &set.listeners[0].request;
    assert_eq!(request["number"], vec!["012"]);
    assert_eq!(request["airport"], vec!["YES"]);
    assert_eq!(request["country"], vec!["off"]);
}

#[test]
fn empty_request_listens_to_everything_and_null_values_are_wildcards() {
    let set = load("listeners:\n  - event: flight\n    request:\n    triggers: [{type: echo}]\n")
        .unwrap();
    assert!(set.listeners[0].request.is_empty());
    let set = load(
        "listeners:\n  - event: flight\n    request: {country: ~}\n    triggers: [{type: echo}]\n",
    )
    .unwrap();
    assert!(set.listeners[0].request.is_empty());
}

#[test]
fn received_keys_are_parsed_and_filtered_on_canonical_values() {
    let schema = flight_schema();
    let endpoint = schema
        .event("flight")
        .unwrap()
        .endpoint("etcd_rest")
        .unwrap();
    let fields = endpoint
        .parse_key("/tmp/aviso/flight/20210101/italy/FCO/AZ203")
        .unwrap();
    assert_eq!(
        fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
        vec![
            "date=20210101",
            "country=italy",
            "airport=FCO",
            "number=AZ203"
        ]
    );
    assert_eq!(endpoint.parse_key("/tmp/aviso/flight/"), None);
    assert_eq!(endpoint.parse_key("/other/20210101/italy/FCO/AZ203"), None);
    // The last field takes the remainder, as pyaviso's parser does.
    assert_eq!(
        endpoint
            .parse_key("/tmp/aviso/flight/20210101/italy/FCO/AZ/20/3")
            .unwrap()["number"],
        "AZ/20/3"
    );

    let set = load("listeners:\n  - event: flight\n    request: {country: Italy, airport: [fco, cia]}\n    triggers: [{type: echo}]\n").unwrap();
    let listener = &set.listeners[0];
    assert!(listener.accepts(&fields));
    let elsewhere = endpoint
        .parse_key("/tmp/aviso/flight/20210101/italy/LIN/AZ203")
        .unwrap();
    assert!(!listener.accepts(&elsewhere));
}
