use super::*;

/// The ECMWF-style schema with its enum values filled from the MARS language file, as ECMWF's
/// schema parser produces it.
pub(crate) fn ecmwf_schema() -> Schema {
    let text = include_str!("../../../tests/fixtures/ecmwf/expanded_event_listener_schema.json");
    Schema::from_json(text, "ecmwf fixture").unwrap()
}

fn params(text: &str) -> Vec<(String, String)> {
    parse_parameters(text).unwrap()
}

fn keys(schema: &Schema, text: &str, engine: &str) -> Result<NotificationKeys, ParameterError> {
    let n = Notification::from_parameters(&params(text), schema, ParameterUse::Key)?;
    Ok(n.keys(schema, engine)?)
}

#[test]
fn parameter_strings_follow_pyaviso_rules() {
    assert_eq!(
        params("event=flight,country=Italy"),
        vec![
            ("event".to_string(), "flight".to_string()),
            ("country".to_string(), "Italy".to_string())
        ]
    );
    const WRONG: &str =
        "Wrong structure for the notification string, it should be <key_name>=<key_value>,...";
    for (bad, detail) in [
        (
            "event=flight",
            "; at least two pairs are needed, separated by ','",
        ),
        ("", "; at least two pairs are needed, separated by ','"),
        (
            "event=flight,country",
            "; 'country' has no '=' (a value cannot contain ','; send such a payload with --payload-file or --from-json)",
        ),
        (
            "event=flight,,",
            "; '' has no '=' (a value cannot contain ','; send such a payload with --payload-file or --from-json)",
        ),
        (
            "event=flight,payload=https://x.int/a?b=1",
            "; 'payload=https://x.int/a?b=1' has more than one '=' (a value cannot contain '='; send such a payload with --payload-file or --from-json)",
        ),
    ] {
        let error = parse_parameters(bad).unwrap_err();
        assert_eq!(error, ParameterError::Structure(detail.into()), "{bad:?}");
        assert_eq!(error.to_string(), format!("{WRONG}{detail}"));
    }
}

#[test]
fn flight_key_of_the_user_guide() {
    let schema = Schema::default_schema();
    let k = keys(
        &schema,
        "event=flight,country=Italy,airport=fco,date=20210101,number=AZ203",
        "etcd_rest",
    )
    .unwrap();
    assert_eq!(k.key, "/tmp/aviso/flight/20210101/italy/FCO/AZ203");
    assert_eq!(k.base, "/tmp/aviso/flight/");
    assert_eq!(k.admin, None);
    // Every engine of the default schema gives the same key; parameter order does not matter.
    let k2 = keys(
        &schema,
        "number=AZ203,date=2021011,airport=FCO,country=ITALY,event=flight",
        "file_based",
    )
    .unwrap();
    assert_eq!(k2.key, "/tmp/aviso/flight/20210101/italy/FCO/AZ203");
}

#[test]
fn ecmwf_dissemination_and_mars_keys_match_pyaviso() {
    let schema = ecmwf_schema();
    let k = keys(
        &schema,
        "event=dissemination,destination=foo,target=E1,class=od,expver=1,domain=g,time=0,stream=enfo,step=1,date=20210101",
        "etcd_rest",
    )
    .unwrap();
    assert_eq!(
        k.key,
        "/ec/diss/FOO/date=20210101,target=E1,class=od,expver=0001,domain=g,time=00,stream=enfo,step=1"
    );
    assert_eq!(k.base, "/ec/diss/FOO/");
    assert_eq!(k.admin.as_deref(), Some("/ec/admin/20210101/FOO"));

    let k = keys(
        &schema,
        "event=mars,class=od,expver=1,domain=g,time=0,stream=enfo,step=1,date=20210101",
        "etcd_grpc",
    )
    .unwrap();
    assert_eq!(
        k.key,
        "/ec/mars/date=20210101,class=od,expver=0001,domain=g,time=00,stream=enfo,step=1"
    );
    assert_eq!(k.base, "/ec/mars/");
    assert_eq!(k.admin, None);

    // The file_based endpoint of the same event.
    let k = keys(
        &schema,
        "event=mars,class=od,expver=1,domain=g,time=0,stream=enfo,step=1,date=20210101",
        "file_based",
    )
    .unwrap();
    assert_eq!(k.key, "/tmp/aviso/mars/od/0001/g/20210101/00/enfo/1");
}

#[test]
fn enum_default_fills_a_missing_notification_key() {
    let schema = ecmwf_schema();
    let k = keys(
        &schema,
        "event=mars,class=od,expver=1,time=0,stream=enfo,step=1,date=20210101",
        "etcd_rest",
    )
    .unwrap();
    assert!(k.key.contains(",domain=g,"), "{}", k.key);
}

#[test]
fn key_errors_use_pyaviso_messages() {
    let schema = Schema::default_schema();
    let err = |text: &str| keys(&schema, text, "etcd_rest").unwrap_err().to_string();
    assert_eq!(
        err("country=Italy,airport=fco"),
        "Invalid notification, 'event' could not be located"
    );
    assert_eq!(
        err("event=flight2,country=Italy"),
        "Invalid notification, flight2 could not be located in the schema"
    );
    assert_eq!(
        err("event=flight,country=Italy,airport=fco,date=20210101"),
        "Wrong parameters: number required"
    );
    // Every missing key at once, in the key's order.
    assert_eq!(
        err("event=flight,country=Italy"),
        "Wrong parameters: date, airport, number required"
    );
    assert_eq!(
        err("event=flight,country=Italy,airport=fco,date=20210101,number=AZ203,payload=x"),
        "Key payload is not allowed"
    );
    // A misspelt key gets the key meant; other keys keep pyaviso's text.
    assert_eq!(
        err("event=flight,contry=Italy,airport=fco,date=20210101,number=AZ203"),
        "Key contry is not allowed (did you mean 'country'?)"
    );
    assert!(
        err("event=flight,country=Italy,airport=fco,date=2021-01-01,number=AZ203")
            .starts_with("Value 2021-01-01 is not valid for key date")
    );
    let ecmwf = ecmwf_schema();
    let e = keys(
        &ecmwf,
        "event=mars,class=xx,expver=1,time=0,stream=enfo,step=1,date=20210101",
        "etcd_rest",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("Value xx is not valid for key class (Key class accepts only the following values: od,operational,"), "{e}");
    // `destination` is required in the ECMWF schema.
    let e = keys(
        &ecmwf,
        "event=dissemination,class=od,expver=1,time=0,stream=enfo,step=1,date=20210101,target=E1",
        "etcd_rest",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(e, "destination is a mandatory key");
}

#[test]
fn notify_takes_payload_ttl_and_the_renamed_payload_field() {
    let schema = Schema::default_schema();
    let n = Notification::from_parameters(
        &params("event=flight,country=Italy,airport=fco,date=20210101,number=AZ203,payload=Landed,ttl=30"),
        &schema,
        ParameterUse::Notify,
    )
    .unwrap();
    assert_eq!(n.payload.as_deref(), Some("Landed"));
    assert_eq!(n.ttl, Some(30));
    assert_eq!(
        serde_json::to_string(&n.to_json()).unwrap(),
        r#"{"event":"flight","request":{"country":"italy","airport":"FCO","date":"20210101","number":"AZ203"},"payload":"Landed"}"#
    );

    let ecmwf = ecmwf_schema();
    let text = "event=mars,class=od,expver=1,domain=g,time=0,stream=enfo,step=1,date=20210101,location=s3://bucket/x";
    let n = Notification::from_parameters(&params(text), &ecmwf, ParameterUse::Notify).unwrap();
    assert_eq!(n.payload.as_deref(), Some("s3://bucket/x"));
    assert_eq!(n.to_json()["location"], "s3://bucket/x");
    let with_payload = format!("{text},payload=x");
    let err = Notification::from_parameters(&params(&with_payload), &ecmwf, ParameterUse::Notify)
        .unwrap_err();
    assert_eq!(err.to_string(), "Key payload is not allowed");

    let err = Notification::from_parameters(
        &params("event=flight,country=Italy,airport=fco,date=20210101,number=AZ203,ttl=soon"),
        &schema,
        ParameterUse::Notify,
    )
    .unwrap_err();
    assert!(err.to_string().contains("Invalid value soon for ttl"));
}
