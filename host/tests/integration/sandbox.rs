//! Hostile plugins, one attack per test: each must fail that trigger for that notification, and
//! the other trigger (echo) and the next notification must still run.

use crate::common;

use crate::common::{FLIGHT_KEY, flight, runtime, runtime_with, specs, test_plugin};
use aviso::trigger::{OutputSink, PluginPolicy, TriggerRuntime};

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
        // The user is told which grant is missing, not only that a file "does not exist".
        let hint = format!(
            "(the plugin was not granted {}: add it to allow.write",
            outside.path().display()
        );
        assert!(error.contains(&hint), "{error}");
        assert!(!error.contains("os error"), "{error}");
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
    let hint = format!(
        "(the plugin may only read {}: add it to allow.write",
        granted.path().display()
    );
    assert!(error.contains(&hint), "{error}");
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
async fn a_granted_origin_cannot_redirect_a_request_elsewhere() {
    let elsewhere = common::http_server::Server::start(200);
    let granted = common::http_server::Server::redirecting(&elsewhere.url("/steal"));
    let (runtime, output) = runtime();
    let yaml = format!(
        "      - type: plugin\n        path: {}\n        config: {{attack: http, target: '{}'}}\n        allow: {{http: ['{}']}}\n",
        test_plugin("evil"),
        granted.url("/hook"),
        granted.url("")
    );
    let triggers = runtime.load(&specs(&yaml)).await.unwrap();
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");
    // The plugin sees the redirect itself; the host does not follow it.
    assert!(
        output.contents().contains("status 302"),
        "{}",
        output.contents()
    );
    assert_eq!(granted.requests().len(), 1);
    assert!(
        elsewhere.requests().is_empty(),
        "the redirect was followed to an origin not granted"
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
            "is not allowed by the site policy: plugins.allow.write allows only /nonexistent-root",
        ),
        (
            "allow: {http: ['https://hooks.example.com']}\n        limits: {memory: 128}",
            "limits.memory 128 MiB is above the site policy's 64 MiB",
        ),
        (
            "allow: {http: ['https://hooks.example.com']}\n        timeout: 60",
            "timeout 1 min is above the site policy's 10 s (plugins.limits.timeout)",
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
        error.ends_with(&format!(
            "cannot load plugin {}: it is not a WebAssembly file (it does not start with the bytes \\0asm)",
            fake.display()
        )),
        "{error}"
    );
    let cut_short = dir.path().join("cut-short.wasm");
    std::fs::write(&cut_short, b"\0asm\x0d\0\x01\0 cut short").unwrap();
    let yaml = format!(
        "      - type: plugin\n        path: {}\n",
        cut_short.display()
    );
    let error = runtime.load(&specs(&yaml)).await.unwrap_err().to_string();
    assert!(
        error.contains("it is not a valid WebAssembly component: "),
        "{error}"
    );
    let yaml = "      - type: plugin\n        path: /nonexistent/plugin.wasm\n";
    let error = runtime.load(&specs(yaml)).await.unwrap_err().to_string();
    assert!(
        error.contains("cannot read plugin /nonexistent/plugin.wasm"),
        "{error}"
    );
}

/// Loads an evil `read` plugin granted `read: [grant]` under a policy that allows only `root`.
async fn read_grant_error(root: &std::path::Path, grant: &str) -> String {
    let policy = PluginPolicy::from_json(&serde_json::json!({"allow": {"read": [root]}})).unwrap();
    let (runtime, _) = runtime_with(policy);
    let yaml = format!(
        "      - type: plugin\n        path: {}\n        config: {{attack: read, target: '{grant}/passwd'}}\n        allow: {{http: [], read: ['{grant}']}}\n",
        test_plugin("evil")
    );
    match runtime.load(&specs(&yaml)).await {
        Ok(triggers) => {
            let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
            panic!("{grant} was granted; the plugin got: {outcome:?}")
        }
        Err(error) => error.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_dot_cannot_leave_the_site_policy() {
    let allowed = tempfile::tempdir().unwrap();
    let depth = allowed.path().components().count();
    let escape = format!("{}/{}etc", allowed.path().display(), "../".repeat(depth));
    let error = read_grant_error(allowed.path(), &escape).await;
    assert!(
        error.contains(&format!(
            "allow.read {escape} (that is /etc) is not allowed by the site policy: plugins.allow.read allows only {}",
            allowed.path().display()
        )),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_cannot_leave_the_site_policy() {
    let allowed = tempfile::tempdir().unwrap();
    let link = allowed.path().join("l");
    std::os::unix::fs::symlink("/etc", &link).unwrap();
    let error = read_grant_error(allowed.path(), &link.display().to_string()).await;
    assert!(
        error.contains("(that is /etc) is not allowed by the site policy"),
        "{error}"
    );
    // A policy root reached through a symlink is resolved too: a grant inside it is fine.
    let real = tempfile::tempdir().unwrap();
    std::fs::write(real.path().join("passwd"), "inside").unwrap();
    let alias = allowed.path().join("alias");
    std::os::unix::fs::symlink(real.path(), &alias).unwrap();
    let policy =
        PluginPolicy::from_json(&serde_json::json!({"allow": {"read": [&alias]}})).unwrap();
    let (runtime, output) = runtime_with(policy);
    let yaml = format!(
        "      - type: plugin\n        path: {}\n        config: {{attack: read, target: '{}/passwd'}}\n        allow: {{http: [], read: ['{}']}}\n",
        test_plugin("evil"),
        real.path().display(),
        real.path().display()
    );
    let triggers = runtime.load(&specs(&yaml)).await.unwrap();
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    assert_eq!(outcome.triggers[0].result, Ok(()));
    assert_eq!(output.contents(), "inside\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_swapped_after_the_check_is_not_what_the_plugin_gets() {
    let root = tempfile::tempdir().unwrap();
    let granted = root.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    std::fs::write(granted.join("passwd"), "checked").unwrap();
    let (runtime, output) = runtime();
    let yaml = format!(
        "      - type: plugin\n        path: {}\n        config: {{attack: read, target: '{g}/passwd'}}\n        allow: {{http: [], read: ['{g}']}}\n",
        test_plugin("evil"),
        g = granted.display()
    );
    let triggers = runtime.load(&specs(&yaml)).await.unwrap();
    std::fs::rename(&granted, root.path().join("moved")).unwrap();
    std::os::unix::fs::symlink("/etc", &granted).unwrap();
    let outcome = triggers.run(&flight(None), FLIGHT_KEY, 1).await;
    assert_eq!(outcome.triggers[0].result, Ok(()));
    assert_eq!(output.contents(), "checked\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_pool_waits_and_every_call_runs_once() {
    // 8 sandboxes, 70 slow commands at once: before admission, 62 failed at once.
    let policy = PluginPolicy {
        command: true,
        concurrent_calls: Some(8),
        ..PluginPolicy::default()
    };
    let (runtime, _) = runtime_with(policy);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ran");
    let yaml = format!(
        "      - type: command\n        command: 'sleep 0.2; echo ${{request.number}} >> {}'\n",
        log.display()
    );
    let triggers = std::sync::Arc::new(runtime.load(&specs(&yaml)).await.unwrap());
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..70 {
        let triggers = triggers.clone();
        calls.spawn(async move {
            let notification = common::flight_number(&format!("AZ{n}"));
            triggers.run(&notification, FLIGHT_KEY, n + 1).await
        });
    }
    while let Some(outcome) = calls.join_next().await {
        let outcome = outcome.unwrap();
        assert_eq!(outcome.triggers[0].result, Ok(()), "{outcome:?}");
        assert_eq!(outcome.triggers[0].attempts, 1);
    }
    let mut ran: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    ran.sort();
    let mut expected: Vec<String> = (0..70).map(|n| format!("AZ{n}")).collect();
    expected.sort();
    assert_eq!(ran, expected, "each call ran exactly once");
    let stats = runtime.engine().admission_stats();
    assert_eq!(stats.capacity, 8);
    assert!(stats.waited >= 62 - 8, "{stats:?}");
    assert_eq!(stats.gave_up, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_finds_no_free_sandbox_in_time_can_be_retried() {
    let policy = PluginPolicy {
        command: true,
        concurrent_calls: Some(1),
        ..PluginPolicy::default()
    };
    let (runtime, _) = runtime_with(policy);
    let slow = runtime
        .load(&specs(
            "      - type: command\n        command: 'sleep 3'\n",
        ))
        .await
        .unwrap();
    let quick = runtime
        .load(&specs("      - type: echo\n        timeout: 0.5\n"))
        .await
        .unwrap();
    let holder = tokio::spawn(async move { slow.run(&flight(None), FLIGHT_KEY, 1).await });
    // Wait until the slow command holds the only sandbox.
    while runtime.engine().admission_stats().admitted < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let outcome = quick.run(&flight(None), FLIGHT_KEY, 2).await;
    let error = outcome.triggers[0].result.clone().unwrap_err();
    assert!(
        error.starts_with("no free sandbox within") && error.contains("all 1 were busy"),
        "{error}"
    );
    assert_eq!(holder.await.unwrap().triggers[0].result, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_plugins_do_not_freeze_the_others() {
    // More looping plugins than worker threads: each holds a thread one time slice at a time,
    // so the echo trigger of another listener runs while they all still loop.
    let (runtime, output) = runtime();
    let looping = format!(
        "      - type: plugin\n        path: {}\n        config: {{attack: loop}}\n        allow: {{http: []}}\n        limits: {{timeout: 30}}\n",
        test_plugin("evil")
    );
    let looping = std::sync::Arc::new(runtime.load(&specs(&looping)).await.unwrap());
    let echo = runtime.load(&specs("      - type: echo\n")).await.unwrap();
    let mut loops = Vec::new();
    for n in 0..4 {
        let looping = looping.clone();
        loops.push(tokio::spawn(async move {
            looping.run(&flight(None), FLIGHT_KEY, n).await
        }));
    }
    // Let the loops start and take the worker threads.
    while runtime.engine().admission_stats().admitted < 6 {
        tokio::task::yield_now().await;
    }
    // On a worker thread, as a listener's triggers run (the test's own thread is not one).
    let outcome =
        tokio::spawn(async move { echo.run(&flight(Some("on time")), FLIGHT_KEY, 10).await })
            .await
            .unwrap();
    assert_eq!(outcome.triggers[0].result, Ok(()));
    assert!(output.contents().contains("on time"));
    assert!(
        loops.iter().all(|l| !l.is_finished()),
        "the echo ran while every loop was still running"
    );
    for l in loops {
        l.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_flood_is_cut_and_the_call_finishes() {
    let (runtime, output) = runtime();
    let error = attack(&runtime, &output, "log-flood", "").await;
    assert_eq!(error, "logged 1000 messages", "the call ran to its end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_at_its_call_quota_waits_in_its_own_queue() {
    // A tenant of aviso serve with quotas.concurrent_calls: 1, next to everyone else.
    let (everyone, _) = runtime();
    let quota = aviso::quota::TenantQuota::new(
        "t",
        aviso::quota::QuotaSettings {
            concurrent_calls: Some(1),
            weight: 1,
            ..Default::default()
        },
    );
    let engine = everyone.engine().for_tenant(quota.clone());
    let tenant = TriggerRuntime::with_engine(engine.clone(), PluginPolicy::default());
    let slow = tenant
        .load(&specs(
            "      - type: command\n        command: 'sleep 3'\n",
        ))
        .await
        .unwrap();
    let quick = tenant
        .load(&specs("      - type: echo\n        timeout: 0.5\n"))
        .await
        .unwrap();
    let holder = tokio::spawn(async move { slow.run(&flight(None), FLIGHT_KEY, 1).await });
    // The slow command holds the tenant's only call.
    while quota.usage().calls_running < 1 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let outcome = quick.run(&flight(None), FLIGHT_KEY, 2).await;
    assert_eq!(
        outcome.triggers[0].result,
        Err(
            "the tenant's 1 concurrent call(s) (quotas.concurrent_calls) stayed in use for 0.5 s"
                .into()
        )
    );
    // The others' calls are not held up: the engine has room, and they wait in no queue.
    let others = everyone
        .load(&specs("      - type: echo\n        timeout: 0.5\n"))
        .await
        .unwrap();
    assert!(
        others
            .run(&flight(None), FLIGHT_KEY, 3)
            .await
            .all_succeeded()
    );
    assert_eq!(holder.await.unwrap().triggers[0].result, Ok(()));
}
