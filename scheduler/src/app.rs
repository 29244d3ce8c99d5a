//! Start-up glue of `scaleio-scheduler`, in the order it happens: logging, the bundle index, the
//! core settings, the store and the state it holds, the HTTP server, then the loop until a
//! signal. Every failure here is a message that names the flag or file and what to do.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mesos::scheduler::connection;
use packaging::bundle::{INDEX, WrittenBundle};
use tokio::sync::{mpsc, watch};

use crate::capacity;
use crate::config::{self, BundleSource, Config, EXECUTOR_BINARY_NAME, LogFormat};
use crate::core::settings::BundleRef;
use crate::core::{Persisted, Settings, State};
use crate::http::{self, ApiContext, Artifacts};
use crate::runtime::{self, Exit, StateStore, StoreVersion, Wiring};
use crate::view::View;

/// How long after claiming the store the scheduler checks that no other scheduler claimed it
/// after, before subscribing (see [`crate::runtime`]).
pub const CLAIM_SETTLE: Duration = Duration::from_secs(2);

/// Time between two capacity readings of the ScaleIO gateway.
pub const CAPACITY_INTERVAL: Duration = Duration::from_secs(30);

/// Sets up logging on stderr: the configured filter, text or JSON lines.
pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Whether a bundle file name carries its digest (`…-<8 hex>.tar.gz`), so the fetcher may cache it.
pub fn is_digest_named(file: &str) -> bool {
    file.strip_suffix(".tar.gz")
        .and_then(|stem| stem.rsplit_once('-'))
        .is_some_and(|(_, hex)| hex.len() == 8 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The bundles agents fetch, from the index `cargo xtask bundle` writes next to them.
pub async fn bundles(config: &Config) -> anyhow::Result<Vec<BundleRef>> {
    let (index, base): (Vec<WrittenBundle>, String) = match &config.bundles {
        BundleSource::Dir(dir) => {
            let path = dir.join(INDEX);
            let bytes = std::fs::read(&path).with_context(|| {
                format!(
                    "--bundle-dir: cannot read {}\nhint: point --bundle-dir at the output directory of `cargo xtask bundle` (it holds {INDEX} and the bundles)",
                    path.display()
                )
            })?;
            let index = serde_json::from_slice(&bytes).with_context(|| {
                format!("--bundle-dir: {} is not a bundle index", path.display())
            })?;
            (index, format!("{}/artifacts/", config.advertised_base()))
        }
        BundleSource::Uri(base) => {
            let url = base.join(INDEX).context("--bundle-uri: cannot form the index URL")?;
            let response = reqwest::get(url.clone())
                .await
                .and_then(|r| r.error_for_status())
                .with_context(|| format!("--bundle-uri: cannot fetch {url}\nhint: the index {INDEX} must sit next to the bundles"))?;
            let index = response
                .json()
                .await
                .with_context(|| format!("--bundle-uri: {url} is not a bundle index"))?;
            (index, base.to_string())
        }
    };
    if index.is_empty() {
        bail!("the bundle index lists no bundle\nhint: run `cargo xtask bundle` again");
    }
    Ok(index
        .into_iter()
        .map(|b| BundleRef {
            platform: b.platform,
            uri: format!("{base}{}", b.file),
            immutable: is_digest_named(&b.file),
            artifacts: b.artifacts,
        })
        .collect())
}

/// The core settings for this configuration.
pub async fn settings(config: &Config) -> anyhow::Result<Settings> {
    let bundles = bundles(config).await?;
    let executor_uri = format!("{}/artifacts/{EXECUTOR_BINARY_NAME}", config.advertised_base());
    Ok(Settings::from_config(config, executor_uri, bundles)?)
}

/// The state to start from: the stored one, or a fresh one.
pub fn state_from(
    settings: Settings,
    stored: Option<(StoreVersion, Vec<u8>)>,
) -> anyhow::Result<(State, Option<StoreVersion>)> {
    match stored {
        Some((version, bytes)) => {
            let persisted = Persisted::from_json(&bytes).context("cannot resume from the store")?;
            tracing::info!(version, framework = ?persisted.state.framework_id, "resuming from the stored state");
            Ok((State::restore(settings, persisted), Some(version)))
        }
        None => Ok((State::new(settings), None)),
    }
}

/// Resolves on the first SIGINT or SIGTERM.
pub async fn signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Binds the HTTP port, runs the server and the loop; returns the process exit code.
pub async fn serve<S: StateStore>(
    config: &Config,
    state: State,
    store: S,
    store_version: Option<StoreVersion>,
) -> anyhow::Result<i32> {
    let addr = std::net::SocketAddr::new(config.rest_address, config.rest_port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr}\nhint: pick a free port with --rest-port (Marathon passes $PORT0)")
    })?;
    tracing::info!(url = %config.advertised_base(), "HTTP API and artifacts listening");
    if config.gateway_tls == scaleio::step::GatewayTls::Insecure {
        tracing::warn!(
            "--gateway-insecure: executors will not verify the ScaleIO gateway's certificate, so \
             anyone on the path can read the admin password; pass --gateway-ca-file instead"
        );
    }
    let (view_tx, view_rx) = watch::channel(Arc::new(View::default()));
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let mut files = BTreeMap::new();
    files.insert(EXECUTOR_BINARY_NAME.to_owned(), config.executor_binary.clone());
    let artifacts = Artifacts {
        dir: match &config.bundles {
            BundleSource::Dir(dir) => Some(dir.clone()),
            BundleSource::Uri(_) => None,
        },
        files,
    };
    let ctx = ApiContext {
        view: view_rx,
        commands: cmd_tx,
        artifacts,
        token: config.api_token.clone(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let (http_stop_tx, mut http_stop_rx) = watch::channel(false);
    let server = tokio::spawn(http::serve(listener, ctx, async move {
        let _ = http_stop_rx.wait_for(|stop| *stop).await;
    }));

    let mut connection =
        connection::Config::new(config.master.clone(), runtime::framework_info(config, None));
    if let (Some(principal), Some(secret)) = (&config.principal, &config.secret) {
        connection.credentials = Some(mesos::http::Credentials {
            principal: principal.clone(),
            secret: mesos::http::Secret::new(secret.expose()),
        });
    }
    let wiring = Wiring {
        connection,
        commands: cmd_rx,
        view: view_tx,
        tick: Duration::from_secs(1),
        store_version,
        claim_settle: CLAIM_SETTLE,
        capacity: Some(runtime::CapacityPolling {
            access: capacity::Access {
                username: "admin".to_owned(),
                password: scaleio::Secret::new(config.password.expose()),
                tls: config.gateway_tls.clone(),
                system_id: config.cluster_id.clone(),
                system_name: config.cluster_name.clone(),
                timeout: Duration::from_secs(10),
            },
            interval: CAPACITY_INTERVAL,
        }),
    };
    let exit = runtime::run(state, store, wiring, signal())
        .await
        .context("cannot start the master connection")?;
    http_stop_tx.send_replace(true);
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP server ended with an error"),
        Err(_) => tracing::warn!("HTTP server did not stop within 5 s"),
        _ => {}
    }
    Ok(match exit {
        Exit::Shutdown => {
            tracing::info!(
                "stopped by a signal; the framework stays registered until its failover timeout"
            );
            config::EXIT_OK
        }
        Exit::Superseded(why) => {
            tracing::error!("{why}");
            config::EXIT_RUNTIME_ERROR
        }
    })
}

/// Everything after the configuration is valid: bundles, store, state, HTTP, the loop.
pub async fn run(config: &Config) -> anyhow::Result<i32> {
    let settings = settings(config).await?;
    let store = crate::store::Store::open(&config.store)
        .await
        .with_context(|| format!("cannot open the store --store {}", config.store))?;
    let stored = store
        .load()
        .await
        .with_context(|| format!("cannot read the store --store {}", config.store))?
        .map(|v| (v.version.0, v.data));
    let (state, version) = state_from(settings, stored)?;
    serve(config, state, store, version).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digest_named_bundles_are_cacheable() {
        assert!(is_digest_named("scaleio-bundle-2.0.1-2072-ubuntu14-3f9c2a1b.tar.gz"));
        assert!(!is_digest_named("scaleio-bundle-2.0.1-2072-ubuntu14.tar.gz"));
        assert!(!is_digest_named("scaleio-bundle-2.0.1-2072-ubuntu14-3f9c2a1g.tar.gz"));
        assert!(!is_digest_named("scaleio-executor"));
    }

    #[test]
    fn a_damaged_store_is_refused_with_a_reason() {
        let err = state_from(Settings::defaults(), Some((3, b"{\"version\":1}".to_vec())))
            .expect_err("refused");
        assert!(
            format!("{err:#}").starts_with(
                "cannot resume from the store: the stored scheduler state is not valid JSON"
            ),
            "{err:#}"
        );
        let (state, version) = state_from(Settings::defaults(), None).expect("fresh");
        assert_eq!(version, None);
        assert!(state.plan().steps().next().is_none());
    }
}
