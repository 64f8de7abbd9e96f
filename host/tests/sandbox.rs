//! Hostile plugins, one attack per test: each must fail that trigger for that notification, and
//! the other trigger (echo) and the next notification must still run.

mod common;

use aviso::trigger::{OutputSink, PluginPolicy, TriggerRuntime};
use common::{FLIGHT_KEY, flight, runtime, runtime_with, specs, test_plugin};

/// Loads `[evil(attack), echo]`, runs two notifications, and returns the evil trigger's error.
async fn attack(
    runtime: &TriggerRuntime,
    output: &OutputSink,
    attack: &str,
    extra: &str,
) -> String {
    let yaml = format!(
        "      - type: plugin
        path: {path}
        config: {{attack: {attack}, target: '{target}'}}
        allow:
          http: ['http://127.0.0.1:1']
{allow}
        limits: {{memory: 32, timeout: 2}}
      - type: echo
",
        path = test_plugin("evil"),
        target = extra_target(extra),
        allow = extra_allow(extra),
    );
    let triggers = runtime
        .load(&specs(&yaml))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let echoes_before = output.contents().matches("\"event\": \"flight\"").count();
    let mut errors = Vec::new();
    for round in 1..=2 {
        let outcome = triggers
            .run(&flight(Some("Landed")), FLIGHT_KEY, round)
            .await;
        assert!(
            outcome.triggers[1].result.is_ok(),
            "echo must still run: {outcome:?}"
        );
        errors.push(
            outcome.triggers[0]
                .result
                .clone()
                .expect_err("the attack must fail"),
        );
    }
    let echoes = output.contents().matches("\"event\": \"flight\"").count() - echoes_before;
    assert_eq!(echoes, 2, "echo ran for both notifications");
    errors.remove(0)
}

/// `extra` is `target` or `target|allow-lines`.
fn extra_target(extra: &str) -> &str {
    extra.split('|').next().unwrap_or("")
}

fn extra_allow(extra: &str) -> String {
    extra
        .split('|')
        .nth(1)
        .map(|a| format!("          {a}\n"))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_is_stopped_at_the_timeout() {
    let (runtime, output) = runtime();
    let error = attack(&runtime, &output, "loop", "").await;
    assert_eq!(error, "stopped after the time limit of 2s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_is_capped() {
    let (runtime, output) = runtime();
    let error = attack(&runtime, &output, "memory", "").await;
    assert_eq!(error, "memory limit of 32 MiB exceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etc_passwd_cannot_be_read() {
    let (runtime, output) = runtime();
    let error = attack(&runtime, &output, "read", "/etc/passwd").await;
    assert!(error.starts_with("read /etc/passwd: "), "{error}");
    assert!(!output.contents().contains("root:"), "the file leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_stay_inside_the_granted_directory() {
    let granted = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let (runtime, output) = runtime();
    let escape = granted
        .path()
        .join("../")
        .join(outside.path().file_name().unwrap())
        .join("evil.txt");
    for target in [outside.path().join("evil.txt"), escape] {
        let extra = format!(
            "{}|write: ['{}']",
            target.display(),
            granted.path().display()
        );
        let error = attack(&runtime, &output, "write", &extra).await;
        assert!(error.starts_with("write "), "{error}");
        assert!(
            !outside.path().join("evil.txt").exists(),
            "wrote outside its directory"
        );
    }
    // Inside the granted directory the same plugin may write.
    let inside = granted.path().join("ok.txt");
    let yaml = format!(
        "      - type: plugin\n        path: {}\n        config: {{attack: write, target: '{}'}}\n        allow: {{http: ['http://127.0.0.1:1'], write: ['{}']}}\n",
        test_plugin("evil"),
        inside.display(),
        granted.path().display()
    );
    let triggers = runtime.load(&specs(&yaml)).await.unwrap();
    assert!(
        triggers
            .run(&flight(None), FLIGHT_KEY, 1)
            .await
            .all_succeeded()
    );
    assert_eq!(std::fs::read_to_string(inside).unwrap(), "evil");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_directories_cannot_be_written() {
    let granted = tempfile::tempdir().unwrap();
    let (runtime, output) = runtime();
    let target = granted.path().join("evil.txt");
    let extra = format!(
        "{}|read: ['{}']",
        target.display(),
        granted.path().display()
    );
    let error = attack(&runtime, &output, "write", &extra).await;
    assert!(error.starts_with("write "), "{error}");
    assert!(!target.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_to_a_host_not_allowed_is_denied() {
    let server = common::http_server::Server::start(200);
    let (runtime, output) = runtime();
    let error = attack(&runtime, &output, "http", &server.url("/steal")).await;
    assert_eq!(error, "http: ErrorCode::HttpRequestDenied");
    assert!(
        server.requests().is_empty(),
        "the request reached the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_granted_environment_variables_are_visible() {
    let (runtime, output) = runtime();
    let error = attack(&runtime, &output, "env", "|env: [HOME]").await;
    assert_eq!(error, "saw 1 variables");
    assert!(
        output.contents().starts_with("HOME\n"),
        "{}",
        output.contents()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_output_is_bounded() {
    let (runtime, output) = runtime();
    let error = attack(&runtime, &output, "flood", "").await;
    assert!(
        error == "output limit of 1048576 bytes exceeded" || error == "stdout closed",
        "{error}"
    );
    assert!(
        output.contents().len() <= 2 * (1 << 20) + 1000,
        "captured {} bytes",
        output.contents().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_fails_only_that_trigger() {
    let (runtime, output) = runtime();
    let error = attack(&runtime, &output, "trap", "").await;
    assert!(error.starts_with("plugin crashed: "), "{error}");
    assert!(error.contains("evil plugin panics on purpose"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_recursion_is_stopped() {
    let (runtime, output) = runtime();
    let error = attack(&runtime, &output, "recursion", "").await;
    assert!(
        error.starts_with("plugin crashed: ") || error.starts_with("memory limit"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_not_granted_are_refused_at_load() {
    let (runtime, _) = runtime();
    // The evil plugin imports wasi:http: without `allow: http` it does not load.
    let yaml = format!(
        "      - type: plugin\n        path: {}\n        config: {{attack: loop}}\n",
        test_plugin("evil")
    );
    let error = runtime.load(&specs(&yaml)).await.unwrap_err().to_string();
    assert!(
        error.contains("it imports outbound HTTP (wasi:http/"),
        "{error}"
    );
    assert!(error.contains("which was not granted"), "{error}");

    // The command trigger's component imports the command capability: as a user plugin it is
    // refused, and site policy must allow `allow: {command: true}`.
    let command = test_plugin("command_bridge");
    let yaml = format!(
        "      - type: plugin\n        path: {command}\n        config: {{command: 'id'}}\n"
    );
    let error = runtime.load(&specs(&yaml)).await.unwrap_err().to_string();
    assert!(
        error.contains(
            "it imports the command capability (aviso:plugin/command), which was not granted"
        ),
        "{error}"
    );
    let yaml = format!(
        "      - type: plugin\n        path: {command}\n        config: {{command: 'id'}}\n        allow: {{command: true}}\n"
    );
    let error = runtime.load(&specs(&yaml)).await.unwrap_err().to_string();
    assert!(
        error.contains("allow.command is not allowed by the site policy"),
        "{error}"
    );
    let permissive = PluginPolicy {
        command: true,
        ..PluginPolicy::default()
    };
    let (runtime, _) = runtime_with(permissive);
    assert!(runtime.load(&specs(&yaml)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_policy_bounds_what_listeners_grant() {
    let policy = PluginPolicy::from_json(&serde_json::json!({
        "allow": {"http": ["https://hooks.example.com"], "env": ["HOME"], "write": ["/nonexistent-root"]},
        "limits": {"memory": 64, "timeout": 10}
    }))
    .unwrap();
    let (runtime, _) = runtime_with(policy);
    let evil = test_plugin("evil");
    let dir = tempfile::tempdir().unwrap();
    for (allow, message) in [
        (
            "allow: {http: ['http://127.0.0.1:1']}",
            "allow.http http://127.0.0.1:1 is not allowed by the site policy",
        ),
        (
            "allow: {http: ['https://hooks.example.com'], env: [PATH]}",
            "allow.env PATH is not allowed by the site policy",
        ),
        (
            &format!(
                "allow: {{http: ['https://hooks.example.com'], write: ['{}']}}",
                dir.path().display()
            ) as &str,
            "is not allowed by the site policy (plugins.allow.write)",
        ),
        (
            "allow: {http: ['https://hooks.example.com']}\n        limits: {memory: 128}",
            "limits.memory 128 MiB is above the site policy's 64 MiB",
        ),
        (
            "allow: {http: ['https://hooks.example.com']}\n        timeout: 60",
            "above the site policy's 10s",
        ),
    ] {
        let yaml = format!(
            "      - type: plugin\n        path: {evil}\n        config: {{attack: loop}}\n        {allow}\n"
        );
        let error = runtime.load(&specs(&yaml)).await.unwrap_err().to_string();
        assert!(error.contains(message), "{allow}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_policy_defaults_apply_when_the_listener_says_nothing() {
    let policy =
        PluginPolicy::from_json(&serde_json::json!({"defaults": {"memory": 16, "timeout": 1}}))
            .unwrap();
    let (runtime, _) = runtime_with(policy);
    let yaml = format!(
        "      - type: plugin\n        path: {}\n        config: {{attack: memory}}\n        allow: {{http: []}}\n",
        test_plugin("evil")
    );
    let triggers = runtime.load(&specs(&yaml)).await.unwrap();
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    assert_eq!(
        outcome.triggers[0].result,
        Err("memory limit of 16 MiB exceeded".into())
    );
    let looping = yaml.replace("attack: memory", "attack: loop");
    let triggers = runtime.load(&specs(&looping)).await.unwrap();
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    assert_eq!(
        outcome.triggers[0].result,
        Err("stopped after the time limit of 1s".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_component_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.wasm");
    std::fs::write(&fake, b"not wasm at all").unwrap();
    let (runtime, _) = runtime();
    let yaml = format!("      - type: plugin\n        path: {}\n", fake.display());
    let error = runtime.load(&specs(&yaml)).await.unwrap_err().to_string();
    assert!(
        error.contains("it is not a valid WebAssembly component"),
        "{error}"
    );
    let yaml = "      - type: plugin\n        path: /nonexistent/plugin.wasm\n";
    let error = runtime.load(&specs(yaml)).await.unwrap_err().to_string();
    assert!(
        error.contains("cannot read plugin /nonexistent/plugin.wasm"),
        "{error}"
    );
}
