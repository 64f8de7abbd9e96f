//! What a plugin component says about itself besides its interface: the version of the Rust
//! SDK (`aviso-sdk`) it was built with, which the SDK writes into a custom section of its code.

use wasmparser::{Parser, Payload};

/// The custom section in which `aviso-sdk` writes its version (`sdk/src/lib.rs`).
pub const SDK_VERSION_SECTION: &str = "aviso-sdk-version";

/// The version of `aviso-sdk` that `wasm` (a component, or a core module) was built with, read
/// from the section [`SDK_VERSION_SECTION`] of the first module that has one, nested modules
/// included. `None` for a plugin built without the Rust SDK (another language, an SDK older
/// than the section) and for bytes that are not WebAssembly.
pub fn sdk_version(wasm: &[u8]) -> Option<String> {
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::CustomSection(section)) if section.name() == SDK_VERSION_SECTION => {
                return std::str::from_utf8(section.data())
                    .ok()
                    .filter(|version| !version.is_empty())
                    .map(str::to_string);
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::builtin;

    /// The `version` of `sdk/Cargo.toml`, which the SDK writes into what it builds.
    fn sdk_crate_version() -> &'static str {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk/Cargo.toml"))
            .lines()
            .find_map(|line| line.strip_prefix("version = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .expect("sdk/Cargo.toml has a version")
    }

    #[test]
    fn the_built_in_plugins_carry_the_version_of_the_sdk_they_were_built_with() {
        assert_eq!(
            sdk_version(builtin::ECHO).as_deref(),
            Some(sdk_crate_version())
        );
        for (name, wasm) in [
            ("log", builtin::LOG),
            ("command", builtin::COMMAND),
            ("post", builtin::POST),
            ("ecmwf schema parser", builtin::ECMWF_SCHEMA),
        ] {
            assert_eq!(
                sdk_version(wasm).as_deref(),
                Some(sdk_crate_version()),
                "{name}"
            );
        }
    }

    #[test]
    fn the_section_is_found_in_a_module_nested_in_a_component() {
        let component = wat::parse_str(
            r#"(component
                 (core module)
                 (core module (@custom "aviso-sdk-version" "9.8.7"))
               )"#,
        )
        .unwrap();
        assert_eq!(sdk_version(&component).as_deref(), Some("9.8.7"));
    }

    #[test]
    fn plugins_without_the_section_and_other_bytes_have_no_sdk_version() {
        let without =
            wat::parse_str(r#"(component (core module (@custom "other" "1.0")))"#).unwrap();
        assert_eq!(sdk_version(&without), None);
        assert_eq!(sdk_version(b"not WebAssembly"), None);
        assert_eq!(sdk_version(&[]), None);
    }
}
