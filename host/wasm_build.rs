//! Building guest components for `wasm32-wasip2` from a build script: shared by host/build.rs
//! (the built-in plugins) and dev-guests/build.rs (the test and example guests).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root, from the manifest folder of a crate one level below it.
pub fn repository_root() -> PathBuf {
    PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .parent()
        .expect("the crate is inside the repository")
        .to_path_buf()
}

/// Where guests are built: a target directory of their own, so that a nested cargo never waits
/// on the lock of the outer build.
pub fn guest_target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("wasm-plugins"),
        None => root.join("target").join("wasm-plugins"),
    }
}

/// Where the built components are.
pub fn release_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("wasm32-wasip2").join("release")
}

/// Asks cargo to run the build script again when anything under these paths changes.
pub fn watch(root: &Path, paths: &[&str]) {
    for path in paths {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
}

/// Builds `packages` of the workspace in `dir` (all of it when empty) for wasm32-wasip2.
pub fn build_guests(dir: &Path, target_dir: &Path, packages: &[&str]) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(target_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    if dir.join("Cargo.lock").exists() {
        command.arg("--locked");
    }
    // Settings meant for the host build must not leak into the wasm build.
    for variable in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        command.env_remove(variable);
    }
    let status = command.status().expect("cargo can be started");
    assert!(
        status.success(),
        "building {} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)",
        dir.display()
    );
}
