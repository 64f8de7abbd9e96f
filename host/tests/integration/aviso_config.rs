//! `aviso-config` against a real etcd, next to pyaviso 1.0.1's on the same store: push, pull,
//! status, remove and revert, both ways; prefix isolation; size limits; nothing-found cases.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::etcd::Etcd;

fn ours() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aviso-config"))
}

/// pyaviso's `aviso-config`, beside its `aviso` (PYAVISO_BIN).
fn theirs() -> Option<PathBuf> {
    common::pyaviso().map(|aviso| aviso.with_file_name("aviso-config"))
}

struct Setup {
    etcd: Etcd,
    home: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            etcd: Etcd::start(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, program: &Path, args: &[&str]) -> Output {
        self.run_with(program, args, &[])
    }

    fn run_with(&self, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = common::clean_command(program);
        command
            .env("HOME", self.home.path())
            .env("AVISO_CONFIGURATION_HOST", "127.0.0.1")
            .env("AVISO_CONFIGURATION_PORT", self.etcd.port.to_string())
            .envs(env.iter().copied())
            .current_dir(self.home.path())
            .args(args)
            .output()
            .unwrap()
    }

    /// A directory of files (relative path, content) under the home.
    fn files(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.home.path().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        for (path, content) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn succeeded(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(out), stderr(out));
    stdout(out)
}

/// The files under `dir` (relative path → content), sorted.
fn read_tree(dir: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap().display().to_string();
                out.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

fn tree(files: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = files
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect();
    out.sort();
    out
}

#[test]
fn push_pull_status_and_remove_agree_with_pyaviso() {
    let setup = Setup::new();
    let files = [
        ("event_listener_schema.json", "{\"flight\": {}}\n"),
        (
            "mars/language.json",
            "{\"class\": {\"values\": [\"od\"]}}\n",
        ),
    ];
    setup.files("local", &files);
    let out = setup.run(
        &ours(),
        &["push", "aviso/v1", "-D", "local", "-m", "first schema"],
    );
    let listed = succeeded(&out);
    assert!(listed.contains("event_listener_schema.json"), "{listed}");
    assert!(
        stderr(&out).contains("Push operation for service aviso/v1 successfully executed"),
        "{}",
        stderr(&out)
    );

    let mut programs = vec![ours()];
    programs.extend(theirs());
    for program in &programs {
        let into = format!(
            "pulled-by-{}",
            program.file_name().unwrap().to_string_lossy()
        );
        let into = format!(
            "{into}-{}",
            programs.iter().position(|p| p == program).unwrap()
        );
        succeeded(&setup.run(program, &["pull", "aviso/v1", "-D", &into]));
        assert_eq!(
            read_tree(&setup.home.path().join(&into)),
            tree(&files),
            "{}",
            program.display()
        );
    }
    let status = succeeded(&setup.run(&ours(), &["status", "aviso/v1"]));
    assert!(status.contains("\"message\": \"first schema\""), "{status}");
    assert!(status.contains("\"version\": 1"), "{status}");

    if let Some(pyaviso) = theirs() {
        assert_eq!(
            succeeded(&setup.run(&pyaviso, &["status", "aviso/v1"])),
            status
        );
        // pyaviso pushes; ours pulls exactly its files, and the status counts both pushes.
        let changed = [("event_listener_schema.json", "{\"flight\": {\"v\": 2}}\n")];
        setup.files("theirs", &changed);
        succeeded(&setup.run(
            &pyaviso,
            &[
                "push", "aviso/v1", "-D", "theirs", "-m", "second", "--delete",
            ],
        ));
        succeeded(&setup.run(
            &ours(),
            &["pull", "aviso/v1", "-D", "ours-after", "--delete"],
        ));
        assert_eq!(
            read_tree(&setup.home.path().join("ours-after")),
            tree(&changed)
        );
        let status = succeeded(&setup.run(&ours(), &["status", "aviso/v1"]));
        assert_eq!(
            succeeded(&setup.run(&pyaviso, &["status", "aviso/v1"])),
            status
        );
        assert!(
            status.contains("\"version\": 2") && status.contains("\"prev_rev\""),
            "{status}"
        );
        // The listing without -f is pyaviso's.
        assert_eq!(
            succeeded(&setup.run(&ours(), &["remove", "aviso/v1"])),
            succeeded(&setup.run(&pyaviso, &["remove", "aviso/v1"]))
        );
    }

    let out = setup.run(&ours(), &["remove", "aviso/v1", "-f"]);
    let removed = succeeded(&out);
    assert!(
        removed.lines().any(|l| l == "/ec/config/aviso/v1"),
        "{removed}"
    );
    let out = setup.run(&ours(), &["status", "aviso/v1"]);
    assert_eq!(succeeded(&out), "");
    assert!(
        stderr(&out).contains("No service aviso/v1 found"),
        "{}",
        stderr(&out)
    );
    let out = setup.run(&ours(), &["pull", "aviso/v1", "-D", "nothing"]);
    assert_eq!(succeeded(&out), "");
    assert!(stderr(&out).contains("No files found for service aviso/v1"));
    std::fs::create_dir_all(setup.home.path().join("empty")).unwrap();
    let out = setup.run(&ours(), &["push", "aviso/v1", "-D", "empty", "-m", "x"]);
    assert_eq!(succeeded(&out), "");
    assert!(stderr(&out).contains("No file found to push for service aviso/v1"));
}

#[test]
fn revert_restores_the_previous_push_and_keeps_to_its_service() {
    let setup = Setup::new();
    let first = [("a.json", "a1"), ("b.json", "b1")];
    let second = [("a.json", "a2"), ("b.json", "b1")];
    let third = [("a.json", "a3"), ("c.json", "c3")];
    let neighbour = [("a.json", "other service")];
    setup.files("n", &neighbour);
    succeeded(&setup.run(&ours(), &["push", "svc/v10", "-D", "n", "-m", "neighbour"]));
    for (i, files) in [&first[..], &second[..], &third[..]].iter().enumerate() {
        setup.files("local", files);
        let message = format!("push {i}");
        succeeded(&setup.run(
            &ours(),
            &["push", "svc/v1", "-D", "local", "-m", &message, "--delete"],
        ));
    }
    let out = setup.run(&ours(), &["revert", "svc/v1"]);
    succeeded(&out);
    assert!(stderr(&out).contains("Revert operation for service svc/v1 successfully executed"));
    let mut programs = vec![ours()];
    programs.extend(theirs());
    for (i, program) in programs.iter().enumerate() {
        let into = format!("reverted-{i}");
        succeeded(&setup.run(program, &["pull", "svc/v1", "-D", &into]));
        assert_eq!(
            read_tree(&setup.home.path().join(&into)),
            tree(&second),
            "{} after revert",
            program.display()
        );
    }
    let status = succeeded(&setup.run(&ours(), &["status", "svc/v1"]));
    assert!(status.contains("\"message\": \"push 1\""), "{status}");

    // Removing svc/v1 leaves svc/v10 alone (pyaviso's prefix delete took both).
    succeeded(&setup.run(&ours(), &["remove", "svc/v1", "-f"]));
    succeeded(&setup.run(&ours(), &["pull", "svc/v10", "-D", "neighbour"]));
    assert_eq!(
        read_tree(&setup.home.path().join("neighbour")),
        tree(&neighbour)
    );
    let out = setup.run(&ours(), &["revert", "svc/v1"]);
    assert!(stderr(&out).contains("No files found for service svc/v1"));
    // A service pushed once has nothing to go back to, and its files stay (newcomer trial N-30).
    let out = setup.run(&ours(), &["revert", "svc/v10"]);
    assert!(
        stderr(&out)
            .contains("Nothing to revert: svc/v10 has a single version (its files are unchanged)"),
        "{}",
        stderr(&out)
    );

    // An empty name (an unset shell variable) or one with slashes at its ends reaches nothing.
    for (args, name) in [
        (vec!["remove", "", "-f"], "\"\""),
        (vec!["push", "", "-D", "n", "--delete", "-m", "x"], "\"\""),
        (vec!["remove", "svc/", "-f"], "\"svc/\""),
        (vec!["revert", "/svc/v10"], "\"/svc/v10\""),
    ] {
        let out = setup.run(&ours(), &args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(
            stderr(&out).contains(&format!("Invalid service name {name}")),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    succeeded(&setup.run(&ours(), &["pull", "svc/v10", "-D", "still-there"]));
    assert_eq!(
        read_tree(&setup.home.path().join("still-there")),
        tree(&neighbour)
    );
}

#[test]
fn files_over_the_size_limit_are_not_pushed() {
    let setup = Setup::new();
    let big = "x".repeat(3 * 1024);
    setup.files("local", &[("small.json", "{}"), ("big.json", &big)]);
    let out = setup.run_with(
        &ours(),
        &["push", "svc", "-D", "local", "-m", "limits"],
        &[("AVISO_MAX_FILE_SIZE", "2")],
    );
    let listed = succeeded(&out);
    assert!(
        listed.contains("small.json") && !listed.contains("big.json"),
        "{listed}"
    );
    assert!(stderr(&out).contains("big.json"), "{}", stderr(&out));
    succeeded(&setup.run(&ours(), &["pull", "svc", "-D", "back"]));
    assert_eq!(
        read_tree(&setup.home.path().join("back")),
        tree(&[("small.json", "{}")])
    );
}

#[test]
fn usage_errors_are_reported_like_click() {
    let setup = Setup::new();
    let out = setup.run(&ours(), &["push", "svc", "-D", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Error: Missing"), "{}", stderr(&out));
}

#[test]
fn the_grpc_engine_manages_the_same_files() {
    let setup = Setup::new();
    let grpc = [("AVISO_CONFIGURATION_ENGINE", "etcd_grpc")];
    let first = [("a.json", "1"), ("sub/b.json", "2")];
    setup.files("local", &first);
    succeeded(&setup.run_with(&ours(), &["push", "svc", "-D", "local", "-m", "one"], &grpc));
    setup.files("local", &[("a.json", "changed")]);
    succeeded(&setup.run_with(
        &ours(),
        &["push", "svc", "-D", "local", "-m", "two", "--delete"],
        &grpc,
    ));
    succeeded(&setup.run_with(&ours(), &["revert", "svc"], &grpc));
    succeeded(&setup.run(&ours(), &["pull", "svc", "-D", "over-rest"]));
    assert_eq!(
        read_tree(&setup.home.path().join("over-rest")),
        tree(&first)
    );
    let status = succeeded(&setup.run_with(&ours(), &["status", "svc"], &grpc));
    assert!(status.contains("\"engine\": \"ETCD_GRPC\""), "{status}");
    let removed = succeeded(&setup.run_with(&ours(), &["remove", "svc", "-f"], &grpc));
    assert_eq!(
        removed,
        "/ec/config/svc\n/ec/config/svc/a.json\n/ec/config/svc/sub/b.json\n"
    );
}

/// Every key under `/ec/config/` that `keep` selects, with its value and etcd's bookkeeping
/// (create and mod revision, version), read straight from etcd's gateway: equal snapshots
/// mean those keys were not written, deleted or recreated in between.
fn raw_keys(etcd: &Etcd, keep: impl Fn(&str) -> bool) -> Vec<(String, String, String)> {
    use base64::Engine as _;
    use std::io::{Read, Write};
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = format!(
        "{{\"key\": \"{}\", \"range_end\": \"{}\"}}",
        b64.encode("/ec/config/"),
        b64.encode("/ec/config0")
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", etcd.port)).unwrap();
    let request = format!(
        "POST /v3/kv/range HTTP/1.0\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (_, json) = answer.split_once("\r\n\r\n").unwrap();
    let json: serde_json::Value = serde_json::from_str(json).unwrap();
    let text = |value: &serde_json::Value| {
        String::from_utf8(b64.decode(value.as_str().unwrap_or("")).unwrap()).unwrap()
    };
    let mut keys: Vec<(String, String, String)> = json["kvs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            let revisions = format!(
                "create {} mod {} version {}",
                kv["create_revision"], kv["mod_revision"], kv["version"]
            );
            (text(&kv["key"]), text(&kv["value"]), revisions)
        })
        .filter(|(key, _, _)| keep(key))
        .collect();
    keys.sort();
    keys
}

#[test]
fn a_parent_service_never_touches_a_nested_or_neighbouring_service() {
    let setup = Setup::new();
    let parent = [("a.json", "parent a"), ("sub/b.json", "parent b")];
    let nested = [
        ("schema.json", "nested schema"),
        ("mars/l.json", "nested l"),
    ];
    let neighbour = [("a.json", "neighbour a")];
    setup.files("parent", &parent);
    setup.files("nested", &nested);
    setup.files("neighbour", &neighbour);
    succeeded(&setup.run(&ours(), &["push", "aviso", "-D", "parent", "-m", "p1"]));
    succeeded(&setup.run(&ours(), &["push", "aviso/v1", "-D", "nested", "-m", "n1"]));
    succeeded(&setup.run(
        &ours(),
        &["push", "aviso-other", "-D", "neighbour", "-m", "o1"],
    ));
    let others = |key: &str| {
        key == "/ec/config/aviso/v1"
            || key.starts_with("/ec/config/aviso/v1/")
            || key.starts_with("/ec/config/aviso-other")
    };
    let before = raw_keys(&setup.etcd, others);
    assert_eq!(before.len(), 5, "{before:?}");
    let unchanged = |after: &str| {
        assert_eq!(raw_keys(&setup.etcd, others), before, "after {after}");
    };
    let pulled = |service: &str, into: &str| {
        succeeded(&setup.run(&ours(), &["pull", service, "-D", into, "--delete"]));
        read_tree(&setup.home.path().join(into))
    };

    // Reading the parent shows its own files only.
    assert_eq!(pulled("aviso", "p"), tree(&parent));
    assert_eq!(
        succeeded(&setup.run(&ours(), &["remove", "aviso"])),
        "/ec/config/aviso/sub/b.json\n/ec/config/aviso/a.json\n"
    );

    // push --delete replaces the parent's files and nothing else.
    let second = [("a.json", "parent a2"), ("c.json", "parent c")];
    setup.files("parent", &second);
    succeeded(&setup.run(
        &ours(),
        &["push", "aviso", "-D", "parent", "-m", "p2", "--delete"],
    ));
    unchanged("push --delete");
    assert_eq!(pulled("aviso", "p"), tree(&second));

    // revert goes back to the parent's first files, and nothing else.
    succeeded(&setup.run(&ours(), &["revert", "aviso"]));
    unchanged("revert");
    assert_eq!(pulled("aviso", "p"), tree(&parent));

    // A file whose name is taken by the nested service is refused, naming it.
    for clash in ["v1", "v1/x.yaml"] {
        setup.files("clash", &[(clash, "clash"), ("d.json", "d")]);
        for delete in [false, true] {
            let mut args = vec!["push", "aviso", "-D", "clash", "-m", "clash"];
            if delete {
                args.push("--delete");
            }
            let out = setup.run(&ours(), &args);
            assert_ne!(out.status.code(), Some(0), "{args:?}");
            assert!(
                stderr(&out).contains(&format!(
                    "Cannot push service aviso: its file {clash} collides with service aviso/v1"
                )),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
    unchanged("refused pushes");
    assert_eq!(pulled("aviso", "p"), tree(&parent));

    // remove -f deletes the parent's files and status, and nothing else.
    assert_eq!(
        succeeded(&setup.run(&ours(), &["remove", "aviso", "-f"])),
        "/ec/config/aviso\n/ec/config/aviso/a.json\n/ec/config/aviso/sub/b.json\n"
    );
    unchanged("remove -f");
    let out = setup.run(&ours(), &["status", "aviso"]);
    assert!(
        stderr(&out).contains("No service aviso found"),
        "{}",
        stderr(&out)
    );
    assert_eq!(pulled("aviso/v1", "n"), tree(&nested));
    assert_eq!(pulled("aviso-other", "o"), tree(&neighbour));
    let status = succeeded(&setup.run(&ours(), &["status", "aviso/v1"]));
    assert!(status.contains("\"message\": \"n1\""), "{status}");
}

#[test]
fn a_service_cannot_be_made_of_a_file_of_the_service_above() {
    let setup = Setup::new();
    let parent = [("notes", "parent's notes"), ("a.json", "a")];
    setup.files("parent", &parent);
    succeeded(&setup.run(&ours(), &["push", "aviso", "-D", "parent", "-m", "p1"]));
    let parents = |key: &str| key == "/ec/config/aviso" || key.starts_with("/ec/config/aviso/");
    let before = raw_keys(&setup.etcd, parents);
    setup.files("child", &[("x.json", "x")]);
    for (args, refused) in [
        (
            vec!["push", "aviso/notes", "-D", "child", "-m", "c"],
            "Cannot push service aviso/notes: /ec/config/aviso/notes is the file notes of \
             service aviso, not a service",
        ),
        (
            vec!["push", "aviso/notes/v1", "-D", "child", "-m", "c"],
            "Cannot push service aviso/notes/v1: it would be inside /ec/config/aviso/notes, \
             the file notes of service aviso",
        ),
        (
            vec!["remove", "aviso/notes", "-f"],
            "Cannot remove service aviso/notes: /ec/config/aviso/notes is the file notes of \
             service aviso, not a service",
        ),
        (
            vec!["status", "aviso/notes"],
            "Cannot show the status of service aviso/notes: /ec/config/aviso/notes is the file \
             notes of service aviso, not a service",
        ),
    ] {
        let out = setup.run(&ours(), &args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(stderr(&out).contains(refused), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(raw_keys(&setup.etcd, parents), before);
    succeeded(&setup.run(&ours(), &["pull", "aviso", "-D", "back"]));
    assert_eq!(read_tree(&setup.home.path().join("back")), tree(&parent));
}

#[test]
fn removing_more_files_than_one_transaction_holds_beside_a_nested_service() {
    let setup = Setup::new();
    // 127 files and a status fill one etcd transaction (128 operations); a second push adds
    // 20 more, so the remove needs two.
    let first: Vec<(String, String)> = (0..127)
        .map(|i| (format!("f{i:03}.json"), format!("{i}")))
        .collect();
    let more: Vec<(String, String)> = (127..147)
        .map(|i| (format!("f{i:03}.json"), format!("{i}")))
        .collect();
    for (name, files) in [("first", &first), ("more", &more)] {
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        setup.files(name, &files);
        succeeded(&setup.run(&ours(), &["push", "big", "-D", name, "-m", name]));
    }
    setup.files("nested", &[("n.json", "nested")]);
    succeeded(&setup.run(&ours(), &["push", "big/v1", "-D", "nested", "-m", "n"]));
    let nested = |key: &str| key.starts_with("/ec/config/big/v1");
    let before = raw_keys(&setup.etcd, nested);
    let removed = succeeded(&setup.run(&ours(), &["remove", "big", "-f"]));
    assert_eq!(removed.lines().count(), 148, "{removed}");
    assert!(removed.lines().all(|key| !nested(key)), "{removed}");
    assert_eq!(
        raw_keys(&setup.etcd, |key| key.starts_with("/ec/config/big")),
        before
    );
}

#[test]
fn revert_refuses_to_bring_back_a_file_whose_name_a_nested_service_took() {
    let setup = Setup::new();
    setup.files("parent", &[("v1", "parent's v1"), ("a.json", "a")]);
    succeeded(&setup.run(&ours(), &["push", "aviso", "-D", "parent", "-m", "p1"]));
    setup.files("parent", &[("a.json", "a2")]);
    succeeded(&setup.run(
        &ours(),
        &["push", "aviso", "-D", "parent", "-m", "p2", "--delete"],
    ));
    setup.files("nested", &[("schema.json", "nested")]);
    succeeded(&setup.run(&ours(), &["push", "aviso/v1", "-D", "nested", "-m", "n1"]));
    let everything = |_: &str| true;
    let before = raw_keys(&setup.etcd, everything);
    let out = setup.run(&ours(), &["revert", "aviso"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains(
            "Cannot revert service aviso: its previous file v1 collides with service aviso/v1"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(raw_keys(&setup.etcd, everything), before);
}
