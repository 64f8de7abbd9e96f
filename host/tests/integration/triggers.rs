//! The built-in triggers end to end, configured as in the user guide, running as real
//! WebAssembly components: echo, log, command (with hostile values), post (to a real HTTP
//! server on loopback), and the trigger semantics (all run, retries, required, timeouts).

use crate::common;

use crate::common::{FLIGHT_KEY, flight, load, runtime, specs};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_prints_the_notification_as_pyaviso() {
    let (runtime, output) = runtime();
    let triggers = load(&runtime, "      - type: echo\n").await;
    let outcome = triggers.run(&flight(Some("Landed")), FLIGHT_KEY, 7).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");
    assert_eq!(
        output.contents(),
        "{\n    \"event\": \"flight\",\n    \"payload\": \"Landed\",\n    \"request\": {\n        \"airport\": \"FCO\",\n        \"country\": \"italy\",\n        \"date\": \"20210101\",\n        \"number\": \"AZ203\"\n    }\n}\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_neutralises_terminal_control_characters() {
    let (runtime, output) = runtime();
    let triggers = load(&runtime, "      - type: echo\n").await;
    triggers
        .run(
            &flight(Some("\u{1b}[2J\u{1b}]0;pwned\u{7}caf\u{e9}")),
            FLIGHT_KEY,
            1,
        )
        .await;
    let text = output.contents();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(
        text.contains(r#""payload": "\u001b[2J\u001b]0;pwned\u0007caf\u00e9""#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_appends_pyaviso_lines_to_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("testLog.log");
    let (runtime, _) = runtime();
    let triggers = load(
        &runtime,
        &format!("      - type: log\n        path: {}\n", path.display()),
    )
    .await;
    for _ in 0..2 {
        let outcome = triggers.run(&flight(Some("Landed")), FLIGHT_KEY, 1).await;
        assert!(outcome.all_succeeded(), "{outcome:?}");
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let line = regex::Regex::new(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - aviso - INFO - Notification received: \{'event': 'flight', 'request': \{'country': 'italy', 'airport': 'FCO', 'date': '20210101', 'number': 'AZ203'\}, 'payload': 'Landed'\}$",
    )
    .unwrap();
    assert!(line.is_match(lines[0]), "{}", lines[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_refuses_a_missing_directory_at_load() {
    let (runtime, _) = runtime();
    let error = runtime
        .load(&specs(
            "      - type: log\n        path: /nonexistent/aviso/log.txt\n",
        ))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the directory /nonexistent/aviso of the log file does not exist"),
        "{error}"
    );
    let error = runtime
        .load(&specs("      - type: log\n"))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("path is a mandatory field"),
        "{error}"
    );
    // A folder this user cannot write in (root may write anywhere, so only for other users).
    if unsafe { libc::geteuid() } != 0 {
        use std::os::unix::fs::PermissionsExt;
        let folder = tempfile::tempdir().unwrap();
        std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o500)).unwrap();
        let yaml = format!(
            "      - type: log\n        path: {}/x.log\n",
            folder.path().display()
        );
        let error = runtime.load(&specs(&yaml)).await.unwrap_err().to_string();
        assert!(
            error.ends_with(&format!(
                "the directory of the log file {} is not writable by this user",
                folder.path().display()
            )),
            "{error}"
        );
        std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}

/// Values no shell may ever interpret.
const HOSTILE: &[&str] = &[
    "AZ203; touch /tmp/aviso-pwned",
    "$(touch /tmp/aviso-pwned)",
    "`touch /tmp/aviso-pwned`",
    "it's \"quoted\"",
    "line1\nline2",
    "back\\slash \\n \\u0041",
    "caf\u{e9} \u{1F600} \u{65e5}\u{672c}",
    "${HOME} $HOME",
    "' ; touch /tmp/aviso-pwned ; '",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_substitutions_never_reach_the_shell_as_code() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, _) = runtime();
    let long = "x".repeat(100_000);
    let mut values: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    values.push(long);
    for (i, value) in values.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        // The same value in every quoting context the author might use.
        let yaml = format!(
            "      - type: command\n        command: >-\n          printf '%s|' ${{payload}} \"${{payload}}\" 'x${{payload}}' > {}\n",
            out.display()
        );
        let triggers = load(&runtime, &yaml).await;
        let outcome = triggers.run(&flight(Some(value)), FLIGHT_KEY, 1).await;
        assert!(outcome.all_succeeded(), "{value:?}: {outcome:?}");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("{value}|{value}|x{value}|"),
            "{value:?}"
        );
    }
    assert!(
        !std::path::Path::new("/tmp/aviso-pwned").exists(),
        "a notification value was run as code"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_offers_every_pyaviso_substitution() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, _) = runtime();
    let yaml = format!(
        "      - type: command
        working_dir: {dir}
        command: >-
          printf '%s\\n' ${{request.date}} ${{request.number}} ${{event}} ${{payload}} > subs.txt;
          printf '%s' ${{json}} > json.txt;
          cat ${{jsonpath}} > jsonpath.txt; echo ${{jsonpath}} > jsonpath-name.txt;
          stat -c %a \"$(dirname ${{jsonpath}})\" > jsonpath-mode.txt;
          printf '%s' \"$AIRPORT\" > env.txt
        environment:
          AIRPORT: ${{request.airport}}
",
        dir = dir.path().display()
    );
    let triggers = load(&runtime, &yaml).await;
    let outcome = triggers.run(&flight(Some("Landed")), FLIGHT_KEY, 1).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    assert_eq!(read("subs.txt"), "20210101\nAZ203\nflight\nLanded\n");
    let expected = r#"{"event": "flight", "request": {"country": "italy", "airport": "FCO", "date": "20210101", "number": "AZ203"}, "payload": "Landed"}"#;
    assert_eq!(read("json.txt"), expected);
    assert_eq!(read("jsonpath.txt"), expected);
    assert_eq!(read("env.txt"), "FCO");
    // The ${jsonpath} file is private (its directory is 0700) and removed once the command finished.
    assert_eq!(read("jsonpath-mode.txt"), "700\n");
    let jsonpath = read("jsonpath-name.txt");
    assert!(
        !std::path::Path::new(jsonpath.trim()).exists(),
        "{jsonpath} still exists"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_too_large_for_a_command_line_points_to_jsonpath() {
    let (runtime, _) = runtime();
    // Linux refuses a single argument or variable over 128 KiB (MAX_ARG_STRLEN).
    let big = "x".repeat(200 * 1024);
    let triggers = load(
        &runtime,
        "      - type: command\n        command: echo ${payload} > /dev/null\n",
    )
    .await;
    let outcome = triggers.run(&flight(Some(&big)), FLIGHT_KEY, 1).await;
    let error = outcome.triggers[0].result.clone().unwrap_err();
    assert!(
        error.starts_with("cannot start the command: ")
            && error.ends_with("have the command read the notification from the file that ${jsonpath} names instead)"),
        "{error}"
    );
    assert!(!error.contains("os error"), "{error}");
    // What the hint says works.
    let triggers = load(
        &runtime,
        "      - type: command\n        command: test \"$(wc -c < ${jsonpath})\" -gt 204800\n",
    )
    .await;
    assert!(
        triggers
            .run(&flight(Some(&big)), FLIGHT_KEY, 1)
            .await
            .all_succeeded()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_success_is_exit_status_zero() {
    let (runtime, _) = runtime();
    let triggers = load(
        &runtime,
        "      - type: command\n        command: echo warning >&2\n",
    )
    .await;
    assert!(
        triggers
            .run(&flight(None), FLIGHT_KEY, 1)
            .await
            .all_succeeded()
    );
    let triggers = load(
        &runtime,
        "      - type: command\n        command: echo out; exit 3\n",
    )
    .await;
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    assert_eq!(
        outcome.triggers[0].result,
        Err("command exited with status 3".to_string())
    );
    let triggers = load(
        &runtime,
        "      - type: command\n        command: echo ${payload}\n",
    )
    .await;
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    let error = outcome.triggers[0].result.clone().unwrap_err();
    assert!(
        error.contains("${payload} cannot be substituted"),
        "{error}"
    );
    let error = runtime
        .load(&specs("      - type: command\n"))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("command is a mandatory field"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_where_bash_would_run_the_value_is_refused_when_the_listener_loads() {
    let (runtime, _) = runtime();
    let error = runtime
        .load(&specs(
            "      - type: command\n        command: 'echo $(( ${payload} + 1 ))'\n",
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("${payload} cannot be used inside $(( ))")
            && error.contains("bash would evaluate the notification's value as arithmetic"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_output_past_the_limit_is_dropped_and_the_command_finishes() {
    // 3 MB on stdout, then a line on stderr and exit 3: before, the full pipe blocked the
    // command until its timeout (6 h by default).
    let (runtime, _) = runtime();
    let triggers = load(
        &runtime,
        "      - type: command\n        command: 'head -c 3000000 /dev/zero; echo finished >&2; exit 3'\n        timeout: 600\n",
    )
    .await;
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    let error = outcome.triggers[0].result.clone().unwrap_err();
    assert!(
        error.contains("command exited with status 3: finished"),
        "the command ran to its end: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_is_killed_at_its_timeout() {
    let (runtime, _) = runtime();
    let triggers = load(
        &runtime,
        "      - type: command\n        command: sleep 30\n        timeout: 0.5\n",
    )
    .await;
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    let error = outcome.triggers[0].result.clone().unwrap_err();
    assert!(
        error.contains("did not finish") || error.contains("time limit"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_sends_a_cloudevent_to_a_real_server() {
    let server = common::http_server::Server::start(200);
    let (runtime, _) = runtime();
    let yaml = format!(
        "      - type: post
        protocol:
          type: cloudevents_http
          url: {}
          headers:
            Content-type: application/json
            X-Team: ops
          timeout: 30
          cloudevents:
            type: aviso_cloudevents
            source: my_test
",
        server.url("/hook?x=1")
    );
    let triggers = load(&runtime, &yaml).await;
    let outcome = triggers.run(&flight(Some("Landed")), FLIGHT_KEY, 1).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hook?x=1");
    assert_eq!(
        request.header("content-type"),
        Some("application/cloudevents+json")
    );
    assert_eq!(request.header("x-team"), Some("ops"));
    let body = String::from_utf8(request.body.clone()).unwrap();
    assert!(
        body.starts_with(r#"{"specversion": "1.0", "id": ""#),
        "{body}"
    );
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "aviso_cloudevents");
    assert_eq!(event["source"], "my_test");
    assert_eq!(event["data"], flight(Some("Landed")).to_json());
    assert_eq!(event["id"].as_str().unwrap().len(), 36);
    assert!(
        regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            .unwrap()
            .is_match(event["time"].as_str().unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reports_errors_and_mandatory_fields() {
    let server = common::http_server::Server::start(503);
    let (runtime, _) = runtime();
    let yaml = format!(
        "      - type: post\n        protocol:\n          type: cloudevents_http\n          url: {}\n",
        server.url("/")
    );
    let triggers = load(&runtime, &yaml).await;
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    let error = outcome.triggers[0].result.clone().unwrap_err();
    assert!(
        error.contains("Not able to POST CloudEvents notification to"),
        "{error}"
    );
    // The status with its reason, and what the server said, labelled.
    assert!(
        error.ends_with(", status 503 Service Unavailable, body: ok"),
        "{error}"
    );
    for (yaml, message) in [
        ("      - type: post\n", "protocol is a mandatory field"),
        (
            "      - type: post\n        protocol: {url: 'http://x'}\n",
            "protocol type is a mandatory field",
        ),
        (
            "      - type: post\n        protocol: {type: cloudevents_http}\n",
            "url is a mandatory field",
        ),
        (
            "      - type: post\n        protocol: {type: smoke_signals, url: 'http://x'}\n",
            "protocol type smoke_signals not recognised",
        ),
    ] {
        let error = runtime.load(&specs(yaml)).await.unwrap_err();
        assert!(error.to_string().contains(message), "{yaml}: {error}");
    }
    // Every wrong one at once.
    let error = runtime
        .load(&specs(
            "      - type: echo\n        timeout: 0\n        retries: -2\n        required: yes please\n",
        ))
        .await
        .unwrap_err()
        .to_string();
    for message in [
        "timeout must be a positive number of seconds",
        "; retries must be a whole number from 0 to 100, found -2",
        "; required must be true or false, found \"yes please\"",
    ] {
        assert!(error.contains(message), "{message}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_trigger_runs_even_when_one_fails() {
    let (runtime, output) = runtime();
    let triggers = load(
        &runtime,
        "      - type: command\n        command: exit 1\n        required: true\n      - type: echo\n      - type: command\n        command: exit 2\n",
    )
    .await;
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    let results: Vec<bool> = outcome.triggers.iter().map(|t| t.result.is_ok()).collect();
    assert_eq!(results, [false, true, false]);
    assert!(outcome.required_failed());
    assert!(output.contents().contains("\"event\": \"flight\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_a_failing_trigger_again() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("attempts");
    let (runtime, _) = runtime();
    // Fails on the first attempt, succeeds on the second.
    let yaml = format!(
        "      - type: command\n        retries: 2\n        command: echo x >> {0}; test $(wc -l < {0}) -ge 2\n",
        counter.display()
    );
    let triggers = load(&runtime, &yaml).await;
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");
    assert_eq!(outcome.triggers[0].attempts, 2);
    assert!(!outcome.required_failed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_triggers_of_the_rust_api() {
    let (runtime, _) = runtime();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let spec = aviso::listener::TriggerSpec::function(move |n| {
        record.lock().unwrap().push(n.request["number"].clone());
        Ok(())
    });
    let failing = aviso::listener::TriggerSpec::function(|_| Err("no thanks".into()));
    let triggers = runtime.load(&[spec, failing]).await.unwrap();
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    assert_eq!(*seen.lock().unwrap(), vec!["AZ203".to_string()]);
    assert_eq!(outcome.triggers[1].result, Err("no thanks".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_settings_are_checked_at_load() {
    let (runtime, _) = runtime();
    for (yaml, message) in [
        (
            "      - type: echo\n        timeout: -1\n",
            "timeout must be a positive number",
        ),
        (
            "      - type: echo\n        retries: many\n",
            "retries must be a whole number",
        ),
        (
            "      - type: echo\n        required: perhaps\n",
            "required must be true or false",
        ),
    ] {
        let error = runtime.load(&specs(yaml)).await.unwrap_err();
        assert!(error.to_string().contains(message), "{yaml}: {error}");
    }
    // Every wrong one at once.
    let error = runtime
        .load(&specs(
            "      - type: echo\n        timeout: 0\n        retries: -2\n        required: yes please\n",
        ))
        .await
        .unwrap_err()
        .to_string();
    for message in [
        "timeout must be a positive number of seconds",
        "; retries must be a whole number from 0 to 100, found -2",
        "; required must be true or false, found \"yes please\"",
    ] {
        assert!(error.contains(message), "{message}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn working_dir_and_log_path_expand_home_and_variables_as_pyaviso_did() {
    // A folder in the real home, named as users write it (`~/...`, `$HOME/...`).
    let home = aviso::config::home_dir().expect("HOME is set for the tests");
    let dir = tempfile::tempdir_in(&home).unwrap();
    let name = dir.path().file_name().unwrap().to_str().unwrap();
    let (runtime, _) = runtime();
    let yaml = format!(
        "      - type: command
        working_dir: $HOME/{name}
        command: pwd > where.txt
      - type: command
        working_dir: ~/{name}
        command: pwd > where-tilde.txt
      - type: log
        path: ${{HOME}}/{name}/flights.log
"
    );
    let triggers = load(&runtime, &yaml).await;
    let outcome = triggers.run(&flight(Some("Landed")), FLIGHT_KEY, 1).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");
    let read = |file: &str| std::fs::read_to_string(dir.path().join(file)).unwrap();
    let real = dir.path().canonicalize().unwrap();
    assert_eq!(read("where.txt").trim(), real.display().to_string());
    assert_eq!(read("where-tilde.txt").trim(), real.display().to_string());
    assert!(read("flights.log").contains("Notification received"));

    // A folder that does not exist is refused when the listener loads, not at each notification.
    let missing = format!(
        "      - type: command\n        working_dir: ~/{name}/nowhere\n        command: 'true'\n"
    );
    let error = runtime
        .load(&specs(&missing))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("is not an existing folder"), "{error}");
}
