//! Differential test against pyaviso 1.0.1 (Click 8.5): a mistyped command line gets the same
//! usage error, word for word, and the same exit status. `PYAVISO_BIN` points to pyaviso's
//! `aviso` (its `aviso-config` is beside it); without it the test is skipped locally and fails
//! under CI.

use crate::common::pyaviso;

use std::path::Path;
use std::process::Command;

/// (exit status, stderr) of `program <arguments>`.
fn run(program: &Path, home: &Path, arguments: &str) -> (Option<i32>, String) {
    let out = Command::new(program)
        .args(arguments.split_whitespace())
        .env("HOME", home)
        .output()
        .expect("program runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn compare(theirs: &Path, ours: &Path, cases: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    for arguments in cases {
        let expected = run(theirs, home.path(), arguments);
        let actual = run(ours, home.path(), arguments);
        assert_eq!(actual, expected, "{} {arguments}", ours.display());
    }
}

#[test]
fn aviso_usage_errors_read_as_pyaviso() {
    let Some(pyaviso) = pyaviso() else { return };
    compare(
        &pyaviso,
        Path::new(env!("CARGO_BIN_EXE_aviso")),
        &[
            "listen --hots",
            "listen --bogus",
            "listen --debgu",
            "key --foo event=flight",
            "notify -x",
            "notify",
            "frobnicate",
        ],
    );
}

#[test]
fn aviso_config_usage_errors_read_as_pyaviso() {
    let Some(pyaviso) = pyaviso() else { return };
    compare(
        &pyaviso.with_file_name("aviso-config"),
        Path::new(env!("CARGO_BIN_EXE_aviso-config")),
        &[
            "push",
            "push aviso/v1",
            "push aviso/v1 -D .",
            "push aviso/v1 -m message",
            "pull",
            "push aviso/v1 -D . -m message --hots",
            "status --bogus",
            "revert",
        ],
    );
}
