//! The library API, mirroring pyaviso's `NotificationManager`: what the CLI can do, a Rust
//! program can do through `Aviso`.

use std::path::PathBuf;

use crate::config::{Settings, home_dir};
use crate::delivery::dead_letter::{DeadLetter, DeadLetters};
use crate::delivery::{self, ActiveListener, Cursor, RetryPolicy};
use crate::listener::{self, ListenerError, ListenerSet};
use crate::notification::{Notification, NotificationKeys, ParameterError, ParameterUse};
use crate::schema::{Schema, SchemaError, SchemaLocations};
use crate::schema_loading;
use crate::service_config::ServiceConfig;
use crate::store::feed::FeedSettings;
use crate::store::publisher::{Publication, Publisher};
use crate::store::{self, Store, replay};

/// The last revision of a bounded replay for one listener.
async fn replay_end(
    store: &Store,
    listener: &ActiveListener,
    replay: Option<(chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)>,
) -> Result<u64, AvisoError> {
    let Some((from, Some(to))) = replay else {
        return Ok(u64::MAX);
    };
    Ok(replay::window(store, &listener.base, from, Some(to))
        .await?
        .and_then(|w| w.last)
        .unwrap_or(0))
}
use crate::trigger::{PluginPolicy, TriggerRuntime};

/// A listener's triggers, loaded; an error names the listener (`index` from 0) and the trigger.
async fn load_triggers(
    runtime: &TriggerRuntime,
    source: &str,
    index: usize,
    listener: &listener::Listener,
) -> Result<crate::trigger::TriggerSet, AvisoError> {
    Ok(runtime.load(&listener.triggers).await.map_err(|error| {
        ListenerError::new(
            source,
            Some(index + 1),
            format!("trigger {}: {error}", error.position),
        )
    })?)
}

/// Any error of the library API.
#[derive(Debug, thiserror::Error)]
pub enum AvisoError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Parameters(#[from] ParameterError),
    #[error(transparent)]
    Listener(#[from] ListenerError),
    #[error(transparent)]
    Trigger(#[from] crate::trigger::TriggerError),
    #[error(transparent)]
    Plugin(#[from] crate::plugin::PluginError),
    /// The configuration's `plugins:` section is not usable.
    #[error("Invalid plugins section in the configuration: {0}")]
    PluginPolicy(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Open(#[from] crate::store::open::OpenError),
    #[error(transparent)]
    Cursor(#[from] crate::delivery::CursorError),
    #[error(transparent)]
    Delivery(#[from] crate::delivery::DeliveryError),
    #[error(transparent)]
    DeadLetter(#[from] crate::delivery::dead_letter::DeadLetterError),
    /// A setting asks for something this build cannot do yet; the message says what.
    #[error("{0}")]
    Unsupported(String),
    /// The event schema cannot be found or parsed; the message says where and why.
    #[error(transparent)]
    SchemaLoad(#[from] schema_loading::SchemaLoadError),
    /// A file of aviso's own state cannot be written; the message says which and why.
    #[error("{0}")]
    StateFile(String),
}

/// A configured Aviso client: settings plus the event schema they select.
#[derive(Debug, Clone)]
pub struct Aviso {
    settings: Settings,
    schema: Schema,
    /// The store, opened on first use and shared (one kept-alive connection for every call).
    store: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<Store>>>,
    /// Writes notifications, several together when they come at once.
    publisher: std::sync::Arc<Publisher>,
    /// Who writes status records (user and host, read once: a server notifies many times).
    status_writer: std::sync::Arc<std::sync::OnceLock<store::status::Writer>>,
}

impl Aviso {
    /// Loads the schema the settings ask for (local file, system file or built-in; from the
    /// configuration service with `remote_schema`; through the `schema_parser`). Blocks while
    /// it waits on the configuration server or the parser; async code can use [`Aviso::load`].
    pub fn new(settings: Settings) -> Result<Aviso, AvisoError> {
        if !schema_loading::needs_async(&settings) {
            let schema = SchemaLocations::standard(home_dir()).load()?;
            return Ok(Aviso::with_schema(settings, schema));
        }
        // A runtime of its own on a thread of its own: this works inside a runtime too.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| {
                            schema_loading::SchemaLoadError::Source(format!(
                                "cannot start a runtime: {e}"
                            ))
                        })?;
                    Ok(runtime.block_on(schema_loading::load_schema(&settings))?)
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
        .map(|schema| Aviso::with_schema(settings, schema))
    }

    /// [`Aviso::new`] for async code.
    pub async fn load(settings: Settings) -> Result<Aviso, AvisoError> {
        let schema = schema_loading::load_schema(&settings).await?;
        Ok(Aviso::with_schema(settings, schema))
    }

    /// A client with a given schema, whatever the settings say about where schemas come from.
    pub fn with_schema(settings: Settings, schema: Schema) -> Aviso {
        Aviso {
            settings,
            schema,
            store: Default::default(),
            publisher: Default::default(),
            status_writer: Default::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The name of the engine whose schema endpoint is used.
    fn engine_name(&self) -> &'static str {
        self.settings.notification_engine.engine.engine_type.name()
    }

    /// The keys of a notification given as parameters (`event` included), like `aviso key`.
    pub fn key(&self, parameters: &[(String, String)]) -> Result<NotificationKeys, AvisoError> {
        let notification =
            Notification::from_parameters(parameters, &self.schema, ParameterUse::Key)?;
        Ok(notification
            .keys(&self.schema, self.engine_name())
            .map_err(ParameterError::from)?)
    }

    /// The store this client writes to, opened on first use.
    fn store(&self) -> Result<std::sync::Arc<Store>, AvisoError> {
        if let Some(store) = self.store.get() {
            return Ok(store.clone());
        }
        let opened = std::sync::Arc::new(self.open_store()?);
        Ok(self.store.get_or_init(|| opened).clone())
    }

    /// The store's current revision, through the connection notifications are written on (a
    /// readiness probe for servers).
    pub async fn store_revision(&self) -> Result<u64, AvisoError> {
        Ok(self.store()?.revision().await?)
    }

    /// A new connection to the store of the configured engine.
    pub fn open_store(&self) -> Result<Store, AvisoError> {
        Ok(store::open::notification_store(&self.settings)?)
    }

    /// The configuration files of services, in the configuration engine's store (`aviso-config`).
    pub fn service_config(&self) -> Result<ServiceConfig, AvisoError> {
        Ok(ServiceConfig::open(&self.settings)?)
    }

    /// Writes a notification (parameters including `event`, the payload field and `ttl`), with
    /// its status and admin keys, in one transaction. Returns its keys.
    pub async fn notify(
        &self,
        parameters: &[(String, String)],
    ) -> Result<NotificationKeys, AvisoError> {
        let notification =
            Notification::from_parameters(parameters, &self.schema, ParameterUse::Notify)?;
        let keys = notification
            .keys(&self.schema, self.engine_name())
            .map_err(ParameterError::from)?;
        let store = self.store()?;
        let writer = match self.status_writer.get() {
            Some(writer) => writer,
            None => {
                let writer = store::open::status_writer(&self.settings, &store)?;
                self.status_writer.get_or_init(|| writer)
            }
        };
        let value = notification
            .payload
            .clone()
            .unwrap_or_else(|| "None".into())
            .into_bytes();
        let ttl = notification.ttl.unwrap_or(self.settings.key_ttl);
        let publication = Publication {
            keys: keys.clone(),
            value,
            ttl: u64::try_from(ttl).ok(),
        };
        self.publisher.publish(&store, writer, publication).await?;
        Ok(keys)
    }

    /// The stored value of the notification described by `parameters`; `None` when there is none.
    pub async fn value(
        &self,
        parameters: &[(String, String)],
    ) -> Result<Option<Vec<u8>>, AvisoError> {
        let keys = self.key(parameters)?;
        Ok(self.store()?.get(&keys.key).await?.map(|kv| kv.value))
    }

    /// Listens with the listeners of `files` (or of the configuration) until `stop` turns true.
    /// With `catch_up`, each listener first receives what it missed since it last ran.
    ///
    /// With `replay` (`--from`, optional `--to`), listeners start at the first notification
    /// written after `from`; with `to`, they receive what was written up to `to` and the call
    /// returns.
    pub async fn listen(
        &self,
        files: &[PathBuf],
        catch_up: bool,
        replay: Option<(chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), AvisoError> {
        let sets = self.load_listeners(files)?;
        self.listen_to(sets, catch_up, replay, stop).await
    }

    /// Like [`Aviso::listen`], with listener sets built by the program (for example with
    /// `function` triggers, see [`TriggerSpec::function`](crate::listener::TriggerSpec::function)).
    pub async fn listen_to(
        &self,
        sets: Vec<ListenerSet>,
        catch_up: bool,
        replay: Option<(chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), AvisoError> {
        let store = self.open_store()?;
        let runtime = self.trigger_runtime()?;
        // A store that cannot be reached yet is waited for (`automatic_retry_delay`). Asked
        // through a key listened to, as pyaviso asks: a proxy such as aviso-auth answers that.
        let through = sets
            .iter()
            .flat_map(|set| &set.listeners)
            .flat_map(|listener| &listener.watch_keys)
            .next()
            .cloned();
        let Some(current) = self
            .current_revision(&store, through.as_deref(), &stop)
            .await?
        else {
            return Ok(());
        };
        let active = self
            .active_listeners(&store, &runtime, sets, catch_up, replay, current)
            .await?;
        let mut keys: Vec<&str> = active.iter().map(|a| a.base.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        match replay {
            None => tracing::info!("Listening to {} at {}...", keys.join(","), store.describe()),
            Some((from, None)) => tracing::info!(
                "Listening to {} at {}, replaying from {from} UTC first...",
                keys.join(","),
                store.describe()
            ),
            Some((from, Some(to))) => tracing::info!(
                "Replaying {} at {} from {from} UTC to {to} UTC...",
                keys.join(","),
                store.describe()
            ),
        }
        let mut without_history: Vec<&str> = active
            .iter()
            .filter(|listener| listener.cursor.revision() == u64::MAX)
            .map(|listener| listener.base.as_str())
            .collect();
        without_history.sort_unstable();
        without_history.dedup();
        for base in without_history {
            tracing::warn!("No history available in the time period selected for {base}");
        }
        if let Some((_, Some(_))) = replay {
            // A bounded replay: each listener receives its window once, then aviso ends.
            for mut listener in active {
                if listener.cursor.revision() == u64::MAX {
                    continue;
                }
                let end = replay_end(&store, &listener, replay).await?;
                let writes = store
                    .written_between(&listener.base, listener.cursor.revision(), end)
                    .await?;
                delivery::replay(&mut listener, writes).await;
            }
            tracing::info!("Replay completed");
            return Ok(());
        }
        delivery::run(
            std::sync::Arc::new(store),
            active,
            self.feed_settings(),
            self.retry_policy(),
            stop,
        )
        .await?;
        Ok(())
    }

    /// How feeds poll, retry and check that a watch is alive (`notification_engine`).
    pub fn feed_settings(&self) -> FeedSettings {
        let engine = &self.settings.notification_engine;
        let retry =
            std::time::Duration::from_secs(engine.engine.automatic_retry_delay.unwrap_or(15));
        FeedSettings {
            poll: std::time::Duration::from_secs(engine.polling_interval.max(1)),
            retry_delay: retry.max(std::time::Duration::from_secs(1)),
            silence: std::time::Duration::from_secs(engine.liveness_check),
        }
    }

    /// What a listener does when a required trigger fails (`delivery`).
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            attempts: self.settings.delivery.attempts,
            retry_delay: std::time::Duration::from_secs(self.settings.delivery.retry_delay),
        }
    }

    /// The store's revision now (asked `through` a key when given, for proxies that authorise
    /// by key); while it cannot be reached, tried again every `automatic_retry_delay` (unless
    /// that is off) until `stop`. `None` when stopped.
    pub async fn current_revision(
        &self,
        store: &Store,
        through: Option<&str>,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) -> Result<Option<u64>, AvisoError> {
        let delay = self
            .settings
            .notification_engine
            .engine
            .automatic_retry_delay;
        let mut stop = stop.clone();
        loop {
            let revision = match through {
                Some(key) => store.revision_through(key).await,
                None => store.revision().await,
            };
            match revision {
                Ok(revision) => return Ok(Some(revision)),
                Err(error) if delay.is_some() => {
                    let retry = std::time::Duration::from_secs(delay.unwrap_or(15));
                    tracing::warn!(
                        "{error}, trying again in {}...",
                        crate::cause::duration(retry)
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(retry) => {}
                        _ = stop.changed() => return Ok(None),
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Each listener of `sets` on each of its base keys, with its triggers loaded, its position
    /// read (or set for a replay) and its dead letters: what `listen_to` delivers to, and what
    /// `aviso serve` gathers from every tenant. `current` is the store's revision now.
    pub async fn active_listeners(
        &self,
        store: &Store,
        runtime: &TriggerRuntime,
        sets: Vec<ListenerSet>,
        catch_up: bool,
        replay: Option<(chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)>,
        current: u64,
    ) -> Result<Vec<ActiveListener>, AvisoError> {
        let cursor_dir = self.settings.state_dir()?.join("cursors");
        let mut active = Vec::new();
        let mut same_request = std::collections::HashMap::new();
        for set in sets {
            for (index, listener) in set.listeners.into_iter().enumerate() {
                let triggers = load_triggers(runtime, &set.source, index, &listener).await?;
                let event = self
                    .schema
                    .event(&listener.event)
                    .map_err(ParameterError::from)?;
                let endpoint = event
                    .endpoint(self.engine_name())
                    .map_err(ParameterError::from)?
                    .clone();
                for base in &listener.watch_keys {
                    // One cursor per listener and base key: listeners never move each other.
                    // A listener is what it listens to (store, base, event, request), so editing
                    // its triggers or failing over to another member keeps its position; the
                    // same request twice in one run gets a number.
                    let identity = listener_identity(store, base, &listener, &mut same_request)?;
                    if listener.name.is_some() {
                        adopt_legacy_cursor(
                            &Cursor::path_for(&cursor_dir, &identity),
                            &Cursor::path_for(
                                &cursor_dir,
                                &unnamed_identity(store, base, &listener),
                            ),
                        );
                    }
                    let legacy_identity = format!(
                        "{}|{}|{}|{:?}|{:?}",
                        store.describe(),
                        base,
                        listener.event,
                        listener.request,
                        listener
                            .triggers
                            .iter()
                            .map(|t| t.settings.to_string())
                            .collect::<Vec<_>>()
                    );
                    adopt_legacy_cursor(
                        &Cursor::path_for(&cursor_dir, &identity),
                        &Cursor::path_for(&cursor_dir, &legacy_identity),
                    );
                    active.push(ActiveListener {
                        listener: listener.clone(),
                        identity: identity.clone(),
                        base: base.clone(),
                        triggers: triggers.clone(),
                        endpoint: endpoint.clone(),
                        payload_field: self.schema.payload_field.clone(),
                        cursor: Cursor::open(
                            Cursor::path_for(&cursor_dir, &identity),
                            catch_up && replay.is_none(),
                            current,
                        )?
                        .described(&identity),
                        catching_up_to: None,
                        dead_letters: DeadLetters::in_dir(&self.settings.state_dir()?),
                        tenant: None,
                        quota: None,
                        recent_errors: None,
                    });
                    if let Some((from, to)) = replay {
                        let path = Cursor::path_for(&cursor_dir, &identity);
                        let active = active.last_mut().expect("pushed above");
                        active.cursor = match replay::window(store, base, from, to).await? {
                            Some(window) if to.is_none() => {
                                Cursor::starting_at(path, window.first - 1).described(&identity)
                            }
                            Some(window) => Cursor::unsaved(window.first - 1),
                            // Said once the replay is announced (`listen_to`).
                            None => Cursor::unsaved(u64::MAX),
                        };
                    } else {
                        // The base key's status record was written with its newest notification.
                        let active = active.last_mut().expect("pushed above");
                        let start = active.cursor.revision();
                        if let Some(status) = store.get(base).await?
                            && status.mod_revision > start
                        {
                            tracing::info!(
                                "Catching up on {base}: notifications were written up to revision {} since revision {start}",
                                status.mod_revision
                            );
                            active.catching_up_to = Some(status.mod_revision);
                        }
                    }
                }
            }
        }
        Ok(active)
    }

    /// The dead letters of this configuration's state folder.
    pub fn dead_letters(&self) -> Result<DeadLetters, AvisoError> {
        Ok(DeadLetters::in_dir(&self.settings.state_dir()?))
    }

    /// Runs the failed triggers of dead letters again (those with `ids`, or all), with the
    /// listeners of `files` (or of the configuration) they were recorded by; a letter whose
    /// triggers all succeed is removed. Returns each letter tried with what came of it;
    /// letters of listeners not given are left alone.
    pub async fn replay_dead_letters(
        &self,
        files: &[PathBuf],
        ids: &[String],
    ) -> Result<Vec<(DeadLetter, Result<(), String>)>, AvisoError> {
        let letters = self.dead_letters()?;
        let mut wanted: Vec<DeadLetter> = letters
            .list()?
            .into_iter()
            .filter(|l| ids.is_empty() || ids.contains(&l.id))
            .collect();
        if let Some(missing) = ids.iter().find(|id| !wanted.iter().any(|l| &l.id == *id)) {
            return Err(AvisoError::Unsupported(format!(
                "There is no dead letter {missing} in {}",
                letters.path().display()
            )));
        }
        let sets = self.load_listeners(files)?;
        let store = self.open_store()?;
        let runtime = self.trigger_runtime()?;
        let mut seen = std::collections::HashMap::new();
        let mut results = Vec::new();
        for listener in sets.iter().flat_map(|set| &set.listeners) {
            for base in &listener.watch_keys {
                let identity = listener_identity(&store, base, listener, &mut seen)?;
                let (mine, others): (Vec<_>, Vec<_>) =
                    wanted.into_iter().partition(|l| l.listener == identity);
                wanted = others;
                if mine.is_empty() {
                    continue;
                }
                let triggers = runtime.load(&listener.triggers).await?;
                let endpoint = self
                    .schema
                    .event(&listener.event)
                    .map_err(ParameterError::from)?
                    .endpoint(self.engine_name())
                    .map_err(ParameterError::from)?
                    .clone();
                for letter in mine {
                    let outcome = self.replay_dead_letter(&letter, &triggers, &endpoint).await;
                    if outcome.is_ok() {
                        letters.remove(std::slice::from_ref(&letter.id))?;
                    }
                    results.push((letter, outcome));
                }
            }
        }
        let ours = store.identity();
        for letter in wanted {
            // Its listener's identity starts with the store it listened to.
            let recorded_at = letter
                .listener
                .strip_prefix("v2|")
                .and_then(|rest| rest.split('|').next())
                .filter(|theirs| *theirs != ours)
                .map(str::to_string);
            let reason = match recorded_at {
                Some(theirs) => format!(
                    "it was recorded listening to {theirs}, and this command reads {ours}: give the same store options{}",
                    if theirs.starts_with("file ") {
                        " (--test for the embedded store)"
                    } else {
                        ""
                    }
                ),
                None => "none of the listeners given listens to what it was recorded for".into(),
            };
            results.push((letter, Err(reason)));
        }
        Ok(results)
    }

    /// Runs a dead letter's failed triggers (every trigger when the listener's triggers changed
    /// since).
    async fn replay_dead_letter(
        &self,
        letter: &DeadLetter,
        triggers: &crate::trigger::TriggerSet,
        endpoint: &crate::schema::Endpoint,
    ) -> Result<(), String> {
        let request = endpoint
            .parse_key(&letter.key)
            .ok_or_else(|| format!("{} does not have the layout of its event", letter.key))?;
        let notification = crate::notification::Notification {
            event: letter.event.clone(),
            request,
            payload_field: self.schema.payload_field.clone(),
            payload: letter.payload.clone(),
            ttl: None,
        };
        let labels = triggers.labels();
        let unchanged = letter
            .failed
            .iter()
            .all(|f| labels.get(f.index) == Some(&f.trigger));
        let which: Vec<usize> = if unchanged {
            letter.failed.iter().map(|f| f.index).collect()
        } else {
            tracing::warn!(
                "The triggers of the listener of dead letter {} changed since it was recorded; running all of them",
                letter.id
            );
            (0..labels.len()).collect()
        };
        let outcome = triggers
            .run_only(&which, &notification, &letter.key, letter.revision)
            .await;
        let failures: Vec<String> = outcome
            .triggers
            .iter()
            .filter(|t| t.required)
            .filter_map(|t| {
                t.result
                    .as_ref()
                    .err()
                    .map(|e| format!("{}: {e}", t.trigger))
            })
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }

    /// The policy for user plugins: the site's `plugins:` section (or the default), narrowed
    /// by the later layers' sections. What a later layer asks beyond the site's policy is left
    /// out with a warning.
    pub fn plugin_policy(&self) -> Result<PluginPolicy, AvisoError> {
        let (policy, warnings) = PluginPolicy::from_sections(&self.settings.plugins)
            .map_err(AvisoError::PluginPolicy)?;
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        Ok(policy)
    }

    /// Loads the triggers of every listener of `sets` as listening would (settings, grants
    /// within the site policy, plugins), to refuse a listener that cannot run before anything
    /// starts.
    pub async fn check_triggers(&self, sets: &[ListenerSet]) -> Result<(), AvisoError> {
        let runtime = self.trigger_runtime()?;
        for set in sets {
            for (index, listener) in set.listeners.iter().enumerate() {
                load_triggers(&runtime, &set.source, index, listener).await?;
            }
        }
        Ok(())
    }

    /// The plugin host for this configuration's triggers: site policy, and compiled plugins
    /// cached in `~/.cache/aviso/plugins`.
    pub fn trigger_runtime(&self) -> Result<TriggerRuntime, AvisoError> {
        let policy = self.plugin_policy()?;
        let engine = crate::plugin::process_engine(policy.concurrent_calls())?;
        Ok(TriggerRuntime::with_engine(engine, policy))
    }

    /// `aviso listen --check`: every problem of these listener files (or of the configuration's
    /// `listeners:`), without listening: the listeners and their settings, then each trigger
    /// loaded as `listen` loads it (its settings, grants within the site policy, a plugin's
    /// imports and its own check of its configuration). Returns how many listeners were checked
    /// when all is well.
    pub async fn check_listeners(&self, files: &[PathBuf]) -> Result<usize, Vec<ListenerError>> {
        let mut checked = Vec::new();
        let mut problems = Vec::new();
        if files.is_empty() {
            match self.load_listeners(files) {
                Ok(sets) => {
                    for set in sets {
                        checked.push(listener::CheckedFile {
                            source: set.source,
                            listeners: set
                                .listeners
                                .into_iter()
                                .enumerate()
                                .map(|(i, l)| (i + 1, l))
                                .collect(),
                            problems: Vec::new(),
                        });
                    }
                }
                Err(AvisoError::Listener(error)) => problems.push(error),
                Err(other) => {
                    problems.push(ListenerError::new(
                        "the configuration",
                        None,
                        other.to_string(),
                    ));
                }
            }
        }
        for path in files {
            checked.push(listener::check_listener_file(
                path,
                &self.schema,
                self.engine_name(),
            ));
        }
        let runtime = match self.trigger_runtime() {
            Ok(runtime) => runtime,
            Err(error) => {
                problems.push(ListenerError::new(
                    "the plugin policy",
                    None,
                    error.to_string(),
                ));
                return Err(problems);
            }
        };
        let mut listeners = 0;
        for file in checked {
            problems.extend(file.problems);
            for (position, listener) in &file.listeners {
                listeners += 1;
                for (index, trigger) in listener.triggers.iter().enumerate() {
                    if let Err(error) = runtime.load(std::slice::from_ref(trigger)).await {
                        problems.push(ListenerError::new(
                            &file.source,
                            Some(*position),
                            format!("trigger {}: {error}", index + 1),
                        ));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(listeners)
        } else {
            problems.sort_by_key(|p| (p.origin.clone(), p.listener, p.line));
            Err(problems)
        }
    }

    /// Where each listener of these files (or of the configuration) is, per base key: `aviso
    /// positions`. With `set`, each position is first moved there: to the newest notification,
    /// or to just before the first one written at or after a date (the listener then delivers
    /// from there the next time it runs with catch-up).
    pub async fn positions(
        &self,
        files: &[PathBuf],
        set: Option<PositionTarget>,
    ) -> Result<Vec<Position>, AvisoError> {
        let sets = self.load_listeners(files)?;
        let store = self.open_store()?;
        let cursor_dir = self.settings.state_dir()?.join("cursors");
        let mut seen = std::collections::HashMap::new();
        let mut positions = Vec::new();
        for set_of_file in &sets {
            for listener in &set_of_file.listeners {
                let shown = listener.label();
                // Only notifications this listener takes count as behind (not status records,
                // not other requests on the same base key).
                let endpoint = self
                    .schema
                    .event(&listener.event)
                    .and_then(|event| event.endpoint(self.engine_name()))
                    .map_err(ParameterError::from)?;
                for base in &listener.watch_keys {
                    let identity = listener_identity(&store, base, listener, &mut seen)?;
                    let file = Cursor::path_for(&cursor_dir, &identity);
                    if let Some(target) = set {
                        let revision = match target {
                            PositionTarget::Now => store.revision().await?,
                            PositionTarget::Date(date) => {
                                match replay::window(&store, base, date, None).await? {
                                    Some(window) => window.first.saturating_sub(1),
                                    None => store.revision().await?,
                                }
                            }
                        };
                        delivery::save_position(&file, revision, &identity).map_err(|e| {
                            AvisoError::StateFile(format!("cannot write {}: {e}", file.display()))
                        })?;
                    }
                    let saved = delivery::saved_position(&file)?;
                    let behind = match saved {
                        Some((revision, _)) => Some(
                            store
                                .changes_since(base, revision)
                                .await?
                                .iter()
                                .filter(|kv| {
                                    endpoint
                                        .parse_key(&kv.key)
                                        .is_some_and(|fields| listener.accepts(&fields))
                                })
                                .count(),
                        ),
                        None => None,
                    };
                    positions.push(Position {
                        listener: shown.clone(),
                        base: base.clone(),
                        file,
                        revision: saved.as_ref().map(|(revision, _)| *revision),
                        saved_at: saved.and_then(|(_, at)| at),
                        behind,
                    });
                }
            }
        }
        Ok(positions)
    }

    /// Reads listener files, or the configuration's `listeners:` section when no file is given.
    /// Every file is checked before anything starts; the first error is returned.
    pub fn load_listeners(&self, files: &[PathBuf]) -> Result<Vec<ListenerSet>, AvisoError> {
        let engine = self.engine_name();
        if files.is_empty() {
            let section = self.settings.listeners.as_ref().ok_or_else(|| {
                ListenerError::new(
                    "the configuration",
                    None,
                    "Event listeners definition cannot be empty: give listener files or define 'listeners' in the configuration",
                )
            })?;
            let source = "the 'listeners' of the configuration";
            let set = match section {
                crate::yaml::YamlValue::Seq(items) => {
                    listener::parse_listener_list(items, source, &self.schema, engine)?
                }
                other => {
                    return Err(ListenerError::new(
                        source,
                        None,
                        format!(
                            "Wrong file structure, 'listeners' must be a list, found {}",
                            other.kind()
                        ),
                    )
                    .into());
                }
            };
            return Ok(vec![set]);
        }
        files
            .iter()
            .map(|path| Ok(listener::load_listener_file(path, &self.schema, engine)?))
            .collect()
    }
}

/// Where `aviso positions --set` moves listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionTarget {
    /// After the newest notification: only what comes next is delivered.
    Now,
    /// Before the first notification written at or after this time (UTC).
    Date(chrono::NaiveDateTime),
}

/// One listener's position on one base key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Its name, or its event and request.
    pub listener: String,
    pub base: String,
    /// The file the position is kept in.
    pub file: PathBuf,
    /// The last revision it finished; `None` when it never ran (it starts at the newest).
    pub revision: Option<u64>,
    /// When the position was saved, when the file says.
    pub saved_at: Option<String>,
    /// Notifications written under the base key after the position (the current value of each
    /// key, as a catch-up delivers them).
    pub behind: Option<usize>,
}

/// What a listener on `base` is known by: its `name:`, or what it listens to (store, base,
/// event, request). Its cursor and dead letters are kept under it. The same request twice in
/// one run gets a number (`seen` counts); the same name twice is refused.
fn listener_identity(
    store: &Store,
    base: &str,
    listener: &crate::listener::Listener,
    seen: &mut std::collections::HashMap<String, usize>,
) -> Result<String, ListenerError> {
    let listens_to = match &listener.name {
        Some(name) => format!("{}|{}|name:{name}", store.identity(), base),
        None => format!(
            "{}|{}|{}|{:?}",
            store.identity(),
            base,
            listener.event,
            listener.request
        ),
    };
    let count = seen.entry(listens_to.clone()).or_insert(0);
    *count += 1;
    match (*count, &listener.name) {
        (1, _) => Ok(format!("v2|{listens_to}")),
        (_, Some(name)) => Err(ListenerError::new(
            "the listeners",
            None,
            format!(
                "the name {name:?} is given to two listeners; each keeps its own position, so names must differ"
            ),
        )),
        (n, None) => Ok(format!("v2|{listens_to}|{n}")),
    }
}

/// The identity the listener had before it was given a `name:` (its position is taken over).
fn unnamed_identity(store: &Store, base: &str, listener: &crate::listener::Listener) -> String {
    let unnamed = crate::listener::Listener {
        name: None,
        ..listener.clone()
    };
    listener_identity(store, base, &unnamed, &mut Default::default())
        .expect("an unnamed listener always has an identity")
}

/// Positions saved before cursors were named after what a listener listens to (their names
/// also covered trigger settings and the member in use) are taken over once, by renaming.
fn adopt_legacy_cursor(path: &std::path::Path, legacy: &std::path::Path) {
    if path.exists() || !legacy.exists() {
        return;
    }
    match std::fs::rename(legacy, path) {
        Ok(()) => tracing::info!(
            "Listener position {} taken over from {} (saved by an earlier version)",
            path.display(),
            legacy.display()
        ),
        Err(error) => tracing::warn!(
            "Cannot take over the listener position {}: {error}",
            legacy.display()
        ),
    }
}

#[cfg(test)]
mod cursor_naming_tests {
    use super::adopt_legacy_cursor;

    #[test]
    fn a_position_saved_under_the_old_name_is_taken_over_once() {
        let dir = tempfile::tempdir().unwrap();
        let (new, legacy) = (dir.path().join("new.json"), dir.path().join("old.json"));
        std::fs::write(&legacy, "{\"revision\": 41}").unwrap();
        adopt_legacy_cursor(&new, &legacy);
        assert_eq!(std::fs::read_to_string(&new).unwrap(), "{\"revision\": 41}");
        assert!(!legacy.exists());
        // A position under the new name is never replaced by an old one.
        std::fs::write(&legacy, "{\"revision\": 7}").unwrap();
        adopt_legacy_cursor(&new, &legacy);
        assert_eq!(std::fs::read_to_string(&new).unwrap(), "{\"revision\": 41}");
    }
}
