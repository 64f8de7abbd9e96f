//! Every rule of reference §5, table-driven: (handler spec, input) → canonical value or rejection.

use serde_json::json;

use super::*;

fn handler(spec: Value) -> Handler {
    Handler::from_spec(&spec).unwrap_or_else(|e| panic!("spec {spec} rejected: {e}"))
}

fn canon(spec: Value, value: &str) -> Result<String, String> {
    handler(spec).canonicalise("k", value).map_err(|r| r.0)
}

#[test]
fn string_handler() {
    for (spec, input, expected) in [
        (json!({"type": "StringHandler"}), "AZ203", "AZ203"),
        (json!({"type": "StringHandler"}), "", ""),
        (
            json!({"type": "StringHandler", "canonic": "lower"}),
            "Italy",
            "italy",
        ),
        (
            json!({"type": "StringHandler", "canonic": "upper"}),
            "fco",
            "FCO",
        ),
        (
            json!({"type": "StringHandler", "canonic": "upper"}),
            "café",
            "CAFÉ",
        ),
        (
            json!({"type": "StringHandler", "required": true}),
            "0012",
            "0012",
        ),
    ] {
        assert_eq!(canon(spec, input).as_deref(), Ok(expected), "{input}");
    }
}

#[test]
fn enum_handler() {
    let spec = json!({"type": "EnumHandler", "values": ["od", "rd"]});
    assert_eq!(canon(spec.clone(), "od").as_deref(), Ok("od"));
    assert_eq!(
        canon(spec.clone(), "OD"),
        Err("Key k accepts only the following values: od,rd".into())
    );
    assert_eq!(
        canon(spec, ""),
        Err("Key k accepts only the following values: od,rd".into())
    );

    let with_default = json!({"type": "EnumHandler", "values": ["g", "m"], "default": "g"});
    assert_eq!(canon(with_default.clone(), "").as_deref(), Ok("g"));
    assert_eq!(canon(with_default, "m").as_deref(), Ok("m"));

    let ints = json!({"type": "EnumHandler", "values": [1, 2, 3]});
    assert_eq!(canon(ints.clone(), "2").as_deref(), Ok("2"));
    assert_eq!(canon(ints.clone(), "02").as_deref(), Ok("2"));
    assert_eq!(
        canon(ints.clone(), "x"),
        Err("Key k is not of a valid type".into())
    );
    assert_eq!(
        canon(ints, "4"),
        Err("Key k accepts only the following values: 1,2,3".into())
    );

    let floats = json!({"type": "EnumHandler", "values": [0.5, 1.0]});
    assert_eq!(canon(floats.clone(), "1").as_deref(), Ok("1.0"));
    assert_eq!(canon(floats, ".5").as_deref(), Ok("0.5"));

    // The quoted 'off' of pyaviso's test suite is a value like any other.
    let quoted = json!({"type": "EnumHandler", "values": ["auto", "'off'"]});
    assert_eq!(canon(quoted.clone(), "'off'").as_deref(), Ok("'off'"));
    assert!(canon(quoted, "off").is_err());
}

#[test]
fn time_handler() {
    let spec = json!({"type": "TimeHandler", "values": [0, 6, 12, 18], "canonic": "{0:0>2}"});
    for (input, expected) in [
        ("0", Ok("00")),
        ("6", Ok("06")),
        ("06", Ok("06")),
        ("12", Ok("12")),
        ("18", Ok("18")),
    ] {
        assert_eq!(
            canon(spec.clone(), input).as_deref(),
            expected.map_err(|e: &str| e.to_string()).as_deref()
        );
    }
    assert_eq!(
        canon(spec.clone(), "3"),
        Err("Key k accepts only the following values: 0,6,12,18".into())
    );
    assert_eq!(
        canon(spec, "noon"),
        Err("Key k is not of a valid type".into())
    );
}

#[test]
fn date_handler() {
    let spec = json!({"type": "DateHandler", "canonic": "%Y%m%d"});
    for (input, expected) in [
        ("20210101", "20210101"),
        ("2021011", "20210101"),
        ("202021", "20200201"),
    ] {
        assert_eq!(
            canon(spec.clone(), input).as_deref(),
            Ok(expected),
            "{input}"
        );
    }
    for bad in ["2021-01-01", "20210230", "today", ""] {
        let err = canon(spec.clone(), bad).unwrap_err();
        assert!(
            err.starts_with("Date attribute is not complying with the format defined"),
            "{bad}: {err}"
        );
    }
    let dashed = json!({"type": "DateHandler", "canonic": "%Y-%m-%d"});
    assert_eq!(canon(dashed, "2021-1-5").as_deref(), Ok("2021-01-05"));
}

#[test]
fn int_handler() {
    let plain = json!({"type": "IntHandler"});
    for (input, expected) in [("12", "12"), ("012", "12"), ("-4", "-4"), (" 5 ", "5")] {
        assert_eq!(
            canon(plain.clone(), input).as_deref(),
            Ok(expected),
            "{input}"
        );
    }
    assert_eq!(
        canon(plain.clone(), "12.5"),
        Err("Key k has to be an integer".into())
    );
    assert_eq!(
        canon(plain, "abc"),
        Err("Key k has to be an integer".into())
    );

    let padded = json!({"type": "IntHandler", "canonic": "{0:0>4}"});
    assert_eq!(canon(padded.clone(), "1").as_deref(), Ok("0001"));
    assert_eq!(canon(padded.clone(), "12").as_deref(), Ok("0012"));
    assert_eq!(canon(padded, "12345").as_deref(), Ok("12345"));

    let ranged = json!({"type": "IntHandler", "range": [0, 100000]});
    assert_eq!(canon(ranged.clone(), "0").as_deref(), Ok("0"));
    assert_eq!(canon(ranged.clone(), "100000").as_deref(), Ok("100000"));
    assert_eq!(
        canon(ranged, "100001"),
        Err("Value 100001 for key k is outside the range defined ([0, 100000])".into())
    );
}

#[test]
fn float_handler() {
    let plain = json!({"type": "FloatHandler"});
    for (input, expected) in [
        ("12", "12.0"),
        ("12.33", "12.33"),
        ("1e16", "1e+16"),
        ("0.1", "0.1"),
    ] {
        assert_eq!(
            canon(plain.clone(), input).as_deref(),
            Ok(expected),
            "{input}"
        );
    }
    assert_eq!(canon(plain, "x"), Err("Key k has to be a float".into()));
    let two_places = json!({"type": "FloatHandler", "canonic": "{:2.2f}"});
    assert_eq!(canon(two_places.clone(), "12.333").as_deref(), Ok("12.33"));
    assert_eq!(canon(two_places, "12").as_deref(), Ok("12.00"));
}

#[test]
fn regex_handler_anchors_at_the_start_only() {
    let spec = json!({"type": "RegexHandler", "regex": "[a-z]+[0-9]"});
    assert_eq!(canon(spec.clone(), "ab1").as_deref(), Ok("ab1"));
    assert_eq!(canon(spec.clone(), "ab1-rest").as_deref(), Ok("ab1-rest"));
    assert!(canon(spec, "1ab1").is_err());
}

#[test]
fn required_and_default_are_reported() {
    assert!(handler(json!({"type": "StringHandler", "required": true})).required());
    assert!(!handler(json!({"type": "StringHandler"})).required());
    let h = handler(json!({"type": "EnumHandler", "values": ["g"], "default": "g"}));
    assert_eq!(h.default_value(), Some("g"));
}

#[test]
fn malformed_handler_specs_say_what_is_wrong() {
    for (spec, message) in [
        (json!({"canonic": "lower"}), "'type' could not be located"),
        (
            json!({"type": "StrHandler"}),
            "unknown handler type 'StrHandler'",
        ),
        (
            json!({"type": "StringHandler", "canonic": "title"}),
            "Case title not recognised",
        ),
        (
            json!({"type": "StringHandler", "values": ["a"]}),
            "StringHandler does not take the property 'values'",
        ),
        (json!({"type": "EnumHandler"}), "EnumHandler needs 'values'"),
        (
            json!({"type": "EnumHandler", "values": []}),
            "'values' must not be empty",
        ),
        (
            json!({"type": "EnumHandler", "values": [true]}),
            "strings and numbers only",
        ),
        (
            json!({"type": "TimeHandler", "values": [0]}),
            "TimeHandler needs 'canonic'",
        ),
        (
            json!({"type": "DateHandler"}),
            "DateHandler needs 'canonic'",
        ),
        (
            json!({"type": "DateHandler", "canonic": "%Y%Q"}),
            "unsupported directive '%Q'",
        ),
        (
            json!({"type": "IntHandler", "range": [1]}),
            "'range' must have two items",
        ),
        (
            json!({"type": "IntHandler", "range": [5, 1]}),
            "'range' must be [lowest, highest]",
        ),
        (
            json!({"type": "IntHandler", "canonic": "{0!r}"}),
            "invalid 'canonic' format",
        ),
        (
            json!({"type": "IntHandler", "canonic": "{name}"}),
            "positional field",
        ),
        (
            json!({"type": "FloatHandler", "canonic": "{:q}"}),
            "invalid 'canonic' format",
        ),
        (
            json!({"type": "RegexHandler"}),
            "RegexHandler needs 'regex'",
        ),
        (
            json!({"type": "RegexHandler", "regex": "(a"}),
            "not a supported regular expression",
        ),
        (
            json!({"type": "StringHandler", "required": "yes"}),
            "'required' must be true or false",
        ),
        (json!("StringHandler"), "a handler must be an object"),
    ] {
        let err = Handler::from_spec(&spec).unwrap_err();
        assert!(
            err.contains(message),
            "{spec}: got {err:?}, wanted {message:?}"
        );
    }
}
