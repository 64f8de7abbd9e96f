//! Opening a store from the settings: the engine, its members, TLS and authentication (the
//! credentials read from `key_file` and `username_file` only when they are used), and who writes
//! status records. Everything that opens a store comes here; nothing outside `store/` matches on
//! the engine kinds.

use crate::config::{ConfigError, EngineType, Settings};

use super::status::Writer;
use super::{EtcdAuth, EtcdGrpc, EtcdRest, FileStore, Store, StoreError};

/// A store that cannot be opened with these settings.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A setting asks for what cannot be done (a credential file that cannot be read, an
    /// authentication the engine does not support); the message says what.
    #[error("{0}")]
    Unsupported(String),
}

/// The notification engine's store (`notification_engine`), on all its members.
pub fn notification_store(settings: &Settings) -> Result<Store, OpenError> {
    let notification = &settings.notification_engine;
    open_engine(settings, &notification.engine, &notification.endpoints)
}

/// The configuration engine's store (`configuration_engine`, for `aviso-config`).
pub fn configuration_store(settings: &Settings) -> Result<Store, OpenError> {
    let engine = &settings.configuration_engine.engine;
    open_engine(settings, engine, &[(engine.host.clone(), engine.port)])
}

/// Who writes status records into `store`: this process's user and host, and the etcd user for
/// etcd and ecmwf authentication (as pyaviso).
pub fn status_writer(settings: &Settings, store: &Store) -> Result<Writer, OpenError> {
    Ok(Writer::current(store.engine_name(), status_user(settings)?))
}

fn open_engine(
    settings: &Settings,
    engine: &crate::config::EngineSettings,
    endpoints: &[(String, u16)],
) -> Result<Store, OpenError> {
    match engine.engine_type {
        EngineType::FileBased => Ok(Store::File(FileStore::open(&FileStore::path_in(
            &settings.state_dir()?,
        ))?)),
        EngineType::EtcdRest => Ok(Store::EtcdRest(EtcdRest::new(
            endpoints,
            engine.https,
            engine.timeout.map(std::time::Duration::from_secs),
            etcd_auth(settings)?,
        ))),
        EngineType::EtcdGrpc => {
            use crate::config::AuthType;
            let credentials = match settings.auth_type {
                AuthType::None => None,
                AuthType::Etcd => match credentials(settings)? {
                    (Some(user), password) => Some((user, password)),
                    (None, _) => {
                        return Err(OpenError::Unsupported(
                            "auth_type etcd needs a username (username, username_file or -u)"
                                .into(),
                        ));
                    }
                },
                other => {
                    return Err(OpenError::Unsupported(format!(
                        "the etcd_grpc engine supports auth_type none and etcd, not {other:?}; use etcd_rest"
                    )));
                }
            };
            Ok(Store::EtcdGrpc(Box::new(EtcdGrpc::new(
                endpoints,
                engine.https,
                engine.timeout.map(std::time::Duration::from_secs),
                credentials,
            )?)))
        }
    }
}

/// The credentials of `auth_type` (password from `key_file`, user from `username_file` or
/// `username`), read only when authentication is used.
fn credentials(settings: &Settings) -> Result<(Option<String>, String), OpenError> {
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read_to_string(path)
            .map(|text| text.trim_end().to_string())
            .map_err(|e| {
                OpenError::Unsupported(format!(
                    "Not able to read the {what} file {}: {e}",
                    path.display()
                ))
            })
    };
    let password = read(&settings.key_file, "key")?;
    let user = match &settings.username_file {
        Some(path) => Some(read(path, "username")?),
        None => settings.username.clone(),
    };
    Ok((user, password))
}

fn etcd_auth(settings: &Settings) -> Result<EtcdAuth, OpenError> {
    use crate::config::AuthType;
    let kind = settings.auth_type;
    if kind == AuthType::None {
        return Ok(EtcdAuth::None);
    }
    let (user, key) = credentials(settings)?;
    let bearer = |auth_type: &str| {
        EtcdAuth::Headers(vec![
            ("authorization".into(), format!("Bearer {key}")),
            ("x-auth-type".into(), auth_type.into()),
        ])
    };
    Ok(match kind {
        AuthType::None => EtcdAuth::None,
        AuthType::Etcd => EtcdAuth::Etcd {
            user: user.ok_or_else(|| {
                OpenError::Unsupported(
                    "auth_type etcd needs a username (username, username_file or -u)".into(),
                )
            })?,
            password: key,
        },
        AuthType::Ecmwf => bearer("ecmwf"),
        AuthType::OpenId => bearer("openid"),
        AuthType::Plain => {
            use base64::Engine;
            let user = user.ok_or_else(|| {
                OpenError::Unsupported(
                    "auth_type plain needs a username (username, username_file or -u)".into(),
                )
            })?;
            let credentials =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}"));
            EtcdAuth::Headers(vec![
                ("authorization".into(), format!("Basic {credentials}")),
                ("x-auth-type".into(), "plain".into()),
            ])
        }
    })
}

/// The status record's `etcd_user`: the user for etcd and ecmwf authentication, as pyaviso.
fn status_user(settings: &Settings) -> Result<Option<String>, OpenError> {
    use crate::config::AuthType;
    match settings.auth_type {
        AuthType::Etcd | AuthType::Ecmwf => Ok(credentials(settings)?.0),
        _ => Ok(None),
    }
}
