//! Builds the test guests (plugins/testing) and the example Rust plugin for `wasm32-wasip2`,
//! next to the built-in plugins (see host/build.rs).

#[path = "../host/wasm_build.rs"]
mod wasm_build;

/// The test-only guests of the plugins workspace, and the example plugin in Rust (a member too).
const TEST_GUESTS: &[&str] = &[
    "aviso-plugin-evil",
    "aviso-plugin-noop",
    "aviso-plugin-probing-parser",
    "flight-board",
];

fn main() {
    let root = wasm_build::repository_root();
    wasm_build::watch(
        &root,
        &[
            "plugins/testing",
            "sdk/src",
            "sdk/Cargo.toml",
            "pycompat/src",
            "pycompat/Cargo.toml",
            "wit",
            "examples/plugin-rust/src",
            "examples/plugin-rust/Cargo.toml",
        ],
    );
    println!("cargo:rerun-if-changed=../host/wasm_build.rs");
    let target_dir = wasm_build::guest_target_dir(&root);
    wasm_build::build_guests(&root.join("plugins"), &target_dir, TEST_GUESTS);
    println!(
        "cargo:rustc-env=AVISO_DEV_GUESTS_DIR={}",
        wasm_build::release_dir(&target_dir).display()
    );
}
