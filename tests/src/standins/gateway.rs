//! The ScaleIO REST gateway stand-in: HTTPS on loopback with a fresh CA per run, over the same
//! cluster model as the `scli` stand-in. Basic-auth login → token, tokens that expire (by time
//! or on demand) answering 401, `Accept: application/json;version=2.0` enforced (`2.0.1` is
//! refused as by the real 2.0.1 gateway), errors as `{"message","httpStatusCode","errorCode"}`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::model::{Model, Refusal, Sds, Token, Volume, check_new_sds};

/// Errors starting the stand-in.
#[derive(Debug, thiserror::Error)]
pub enum GatewayStandinError {
    #[error("cannot make the stand-in's TLS certificate")]
    Cert(#[from] rcgen::Error),
    #[error("cannot set up TLS for the stand-in")]
    Tls(#[from] rustls::Error),
    #[error("stand-in I/O ({0})")]
    Io(&'static str, #[source] std::io::Error),
}

/// A running gateway stand-in; stops when dropped (open connections close too).
#[derive(Debug)]
pub struct GatewayStandin {
    addr: SocketAddr,
    ca_file: PathBuf,
    state: PathBuf,
    logins: Arc<AtomicUsize>,
    shutdown: watch::Sender<bool>,
}

struct Ctx {
    state: PathBuf,
    token_ttl: Duration,
    logins: Arc<AtomicUsize>,
}

impl GatewayStandin {
    /// Starts on `127.0.0.1:<free port>`, writing its CA certificate to `<dir>/gateway-ca.pem`.
    pub async fn start(
        state: &Path,
        dir: &Path,
        token_ttl: Duration,
    ) -> Result<Self, GatewayStandinError> {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "ScaleIO gateway stand-in CA");
        ca_params.key_usages =
            vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let ca_key = rcgen::KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let mut leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?;
        leaf.subject_alt_names.push(rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        leaf.distinguished_name.push(rcgen::DnType::CommonName, "scaleio-gateway");
        let leaf_key = rcgen::KeyPair::generate()?;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

        let ca_file = dir.join("gateway-ca.pem");
        std::fs::write(&ca_file, ca_cert.pem())
            .map_err(|e| GatewayStandinError::Io("writing the CA file", e))?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![leaf_cert.der().clone()], key)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| GatewayStandinError::Io("binding", e))?;
        let addr =
            listener.local_addr().map_err(|e| GatewayStandinError::Io("local address", e))?;
        let logins = Arc::new(AtomicUsize::new(0));
        let ctx = Arc::new(Ctx { state: state.to_owned(), token_ttl, logins: logins.clone() });
        // Stopping closes the listener and every open connection, as a gateway that went down.
        let (tx, mut rx) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    _ = rx.wait_for(|stop| *stop) => break,
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                };
                let acceptor = acceptor.clone();
                let ctx = ctx.clone();
                let mut stop = rx.clone();
                tokio::spawn(async move {
                    let serve = async {
                        let Ok(tls) = acceptor.accept(tcp).await else { return };
                        let svc = hyper::service::service_fn(move |req| {
                            let ctx = ctx.clone();
                            async move { Ok::<_, std::convert::Infallible>(handle(&ctx, req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                            .await;
                    };
                    tokio::select! {
                        _ = stop.wait_for(|stop| *stop) => {}
                        _ = serve => {}
                    }
                });
            }
        });
        Ok(Self { addr, ca_file, state: state.to_owned(), logins, shutdown: tx })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// How many successful logins the stand-in served.
    pub fn logins(&self) -> usize {
        self.logins.load(Ordering::SeqCst)
    }

    /// Expires every token now (as the real gateway does after its idle timeout).
    pub fn expire_tokens(&self) -> Result<(), super::model::ModelError> {
        Model::update(&self.state, |m| m.tokens.clear())
    }
}

impl Drop for GatewayStandin {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

type Resp = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: &Value) -> Resp {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json;charset=UTF-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static response parts are valid")
}

fn error(status: StatusCode, message: &str, code: i64) -> Resp {
    reply(
        status,
        &json!({ "message": message, "httpStatusCode": status.as_u16(), "errorCode": code }),
    )
}

fn refusal(r: &Refusal) -> Resp {
    let message = r.0.trim_start_matches("Error: MDM failed command.  Status: ");
    let code = if message.contains("already") { 6 } else { 3 };
    error(StatusCode::INTERNAL_SERVER_ERROR, message, code)
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn basic(req: &Request<hyper::body::Incoming>) -> Option<(String, String)> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let b64 = value.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

async fn handle(ctx: &Ctx, req: Request<hyper::body::Incoming>) -> Resp {
    if let Some(accept) = req.headers().get("accept").and_then(|v| v.to_str().ok()) {
        if let Some(v) = accept.split(';').find_map(|p| p.trim().strip_prefix("version=")) {
            if v != "2.0" {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("Unsupported API version {v}; use 2.0"),
                    1,
                );
            }
        }
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let auth = basic(&req);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(StatusCode::BAD_REQUEST, "Cannot read the request body", 1),
    };
    let result = Model::update(&ctx.state, |m| route(ctx, m, &method, &path, auth, &body));
    match result {
        Ok(r) => r,
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("stand-in model: {e}"), 99),
    }
}

fn route(
    ctx: &Ctx,
    m: &mut Model,
    method: &hyper::Method,
    path: &str,
    auth: Option<(String, String)>,
    body: &[u8],
) -> Resp {
    let get = method == hyper::Method::GET;
    let post = method == hyper::Method::POST;
    if path == "/api/version" && get {
        return reply(StatusCode::OK, &json!("2.0"));
    }
    if path == "/api/login" && get {
        let Some(sys) = m.system.as_ref() else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "Failed to connect to MDM", 3);
        };
        return match auth {
            Some((u, p)) if u == "admin" && p == sys.password => {
                let token = uuid::Uuid::new_v4().simple().to_string();
                m.tokens.insert(
                    token.clone(),
                    Token { expires_unix: now_unix() + ctx.token_ttl.as_secs() },
                );
                ctx.logins.fetch_add(1, Ordering::SeqCst);
                reply(StatusCode::OK, &json!(token))
            }
            _ => error(StatusCode::UNAUTHORIZED, "Unauthorized", 0),
        };
    }
    // Everything else needs a valid token as the password of user "".
    let now = now_unix();
    m.tokens.retain(|_, t| t.expires_unix > now);
    match &auth {
        Some((u, t)) if u.is_empty() && m.tokens.contains_key(t) => {}
        _ => return error(StatusCode::UNAUTHORIZED, "Unauthorized", 0),
    }
    let body: Value = if post {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return error(StatusCode::BAD_REQUEST, "Request body is not valid JSON", 1),
        }
    } else {
        Value::Null
    };
    let str_field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let Some(sys_snapshot) = m.system.clone() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "Failed to connect to MDM", 3);
    };
    let rel = |kind: &str, rel: &str| -> Option<String> {
        path.strip_prefix(&format!("/api/instances/{kind}::"))?
            .strip_suffix(&format!("/relationships/{rel}"))
            .map(str::to_owned)
    };
    let sys_json = |s: &super::model::System| {
        json!({
            "id": s.id, "name": s.name, "installId": s.install_id, "systemVersionName": "EMC ScaleIO Version: R2_0.10000.2072",
            "mdmMode": if s.mode == "3_node" { "Cluster" } else { "SingleNode" },
            "mdmClusterState": if s.mode == "3_node" { "ClusteredNormal" } else { "NotClustered" },
            "primaryMdmActorIpList": [s.master.ip], "secondaryMdmActorIpList": s.slaves.iter().map(|x| &x.ip).collect::<Vec<_>>(),
            "tiebreakerMdmIpList": s.tiebreakers.iter().map(|x| &x.ip).collect::<Vec<_>>(),
            "mdmManagementIPList": [s.master.management_ip.clone().unwrap_or_else(|| s.master.ip.clone())],
            "links": [
                {"rel": "self", "href": format!("/api/instances/System::{}", s.id)},
                {"rel": "/api/System/relationship/ProtectionDomain", "href": format!("/api/instances/System::{}/relationships/ProtectionDomain", s.id)},
                {"rel": "/api/System/relationship/Statistics", "href": format!("/api/instances/System::{}/relationships/Statistics", s.id)},
                {"rel": "/api/System/relationship/Sdc", "href": format!("/api/instances/System::{}/relationships/Sdc", s.id)}
            ]
        })
    };
    let pd_json = |p: &super::model::Pd| json!({"id": p.id, "name": p.name, "systemId": sys_snapshot.id, "protectionDomainState": "Active", "links": [{"rel": "self", "href": format!("/api/instances/ProtectionDomain::{}", p.id)}]});
    let pool_json = |p: &super::model::Pool| json!({"id": p.id, "name": p.name, "protectionDomainId": p.pd_id, "links": [{"rel": "self", "href": format!("/api/instances/StoragePool::{}", p.id)}]});
    let sds_json = |s: &Sds| json!({"id": s.id, "name": s.name, "protectionDomainId": s.pd_id, "ipList": [{"ip": s.ip, "role": "all"}], "sdsState": "Normal", "membershipState": "Joined", "mdmConnectionState": "Connected"});
    let dev_json = |d: &super::model::Device| json!({"id": d.id, "name": null, "deviceCurrentPathname": d.path, "storagePoolId": d.pool_id, "sdsId": d.sds_id, "deviceState": "Normal", "errorState": "None", "capacityLimitInKb": d.size_kb});
    let vol_json = |v: &Volume| json!({"id": v.id, "name": v.name, "sizeInKb": v.size_kb, "storagePoolId": v.pool_id, "volumeType": "ThinProvisioned", "mappedSdcInfo": []});
    let stats = |devices: Vec<&super::model::Device>,
                 volumes: Vec<&Volume>,
                 s: &super::model::System| {
        let cap: u64 = devices.iter().map(|d| d.size_kb).sum();
        let used: u64 = volumes.iter().map(|v| v.size_kb).sum();
        json!({
            "capacityLimitInKb": cap, "maxCapacityInKb": cap, "capacityInUseInKb": used,
            "capacityAvailableForVolumeAllocationInKb": cap.saturating_sub(used) / 2, "spareCapacityInKb": 0,
            "numOfSds": s.sds.len(), "numOfSdc": s.sdcs.len(), "numOfDevices": devices.len(), "numOfVolumes": volumes.len(),
            "numOfStoragePools": s.pools.len(), "numOfProtectionDomains": s.pds.len()
        })
    };
    let s = &sys_snapshot;

    if get {
        if path == "/api/types/System/instances" {
            return reply(StatusCode::OK, &json!([sys_json(s)]));
        }
        if path == "/api/types/StoragePool/instances" {
            return reply(StatusCode::OK, &Value::Array(s.pools.iter().map(pool_json).collect()));
        }
        if path == "/api/types/Volume/instances" {
            return reply(StatusCode::OK, &Value::Array(s.volumes.iter().map(vol_json).collect()));
        }
        if let Some(id) = rel("System", "ProtectionDomain") {
            if id != s.id {
                return error(StatusCode::NOT_FOUND, "Could not find the System", 3);
            }
            return reply(StatusCode::OK, &Value::Array(s.pds.iter().map(pd_json).collect()));
        }
        if let Some(id) = rel("System", "Sdc") {
            if id != s.id {
                return error(StatusCode::NOT_FOUND, "Could not find the System", 3);
            }
            let sdcs: Vec<Value> = s.sdcs.iter().map(|c| json!({"id": c.id, "sdcGuid": c.guid, "sdcIp": c.ip, "mdmConnectionState": "Connected"})).collect();
            return reply(StatusCode::OK, &Value::Array(sdcs));
        }
        if let Some(id) = rel("System", "Statistics") {
            if id != s.id {
                return error(StatusCode::NOT_FOUND, "Could not find the System", 3);
            }
            return reply(
                StatusCode::OK,
                &stats(s.devices.iter().collect(), s.volumes.iter().collect(), s),
            );
        }
        if let Some(id) = rel("ProtectionDomain", "StoragePool") {
            if !s.pds.iter().any(|p| p.id == id) {
                return error(StatusCode::NOT_FOUND, "Could not find the Protection Domain", 3);
            }
            return reply(
                StatusCode::OK,
                &Value::Array(s.pools.iter().filter(|p| p.pd_id == id).map(pool_json).collect()),
            );
        }
        if let Some(id) = rel("ProtectionDomain", "Sds") {
            if !s.pds.iter().any(|p| p.id == id) {
                return error(StatusCode::NOT_FOUND, "Could not find the Protection Domain", 3);
            }
            return reply(
                StatusCode::OK,
                &Value::Array(s.sds.iter().filter(|x| x.pd_id == id).map(sds_json).collect()),
            );
        }
        if let Some(id) = rel("StoragePool", "Device") {
            if !s.pools.iter().any(|p| p.id == id) {
                return error(StatusCode::NOT_FOUND, "Could not find the Storage Pool", 3);
            }
            return reply(
                StatusCode::OK,
                &Value::Array(s.devices.iter().filter(|d| d.pool_id == id).map(dev_json).collect()),
            );
        }
        if let Some(id) = rel("StoragePool", "Statistics") {
            if !s.pools.iter().any(|p| p.id == id) {
                return error(StatusCode::NOT_FOUND, "Could not find the Storage Pool", 3);
            }
            let devs = s.devices.iter().filter(|d| d.pool_id == id).collect();
            let vols = s.volumes.iter().filter(|v| v.pool_id == id).collect();
            return reply(StatusCode::OK, &stats(devs, vols, s));
        }
    }
    if post {
        let missing = |k: &str| {
            error(StatusCode::BAD_REQUEST, &format!("Request is missing the field {k}"), 1)
        };
        let id = m.new_id();
        let sys = m.system.as_mut().expect("checked above");
        match path {
            "/api/types/ProtectionDomain/instances" => {
                let Some(name) = str_field("name") else { return missing("name") };
                return match sys.add_pd(id, &name) {
                    Ok(id) => reply(StatusCode::OK, &json!({ "id": id })),
                    Err(r) => refusal(&r),
                };
            }
            "/api/types/StoragePool/instances" => {
                let (Some(name), Some(pd)) = (str_field("name"), str_field("protectionDomainId"))
                else {
                    return missing("name/protectionDomainId");
                };
                return match sys.add_pool(id, &pd, &name) {
                    Ok(id) => reply(StatusCode::OK, &json!({ "id": id })),
                    Err(r) => refusal(&r),
                };
            }
            "/api/types/Sds/instances" => {
                let (Some(name), Some(pd)) = (str_field("name"), str_field("protectionDomainId"))
                else {
                    return missing("name/protectionDomainId");
                };
                let Some(ip) = body
                    .pointer("/sdsIpList/0/SdsIp/ip")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                else {
                    return missing("sdsIpList");
                };
                if let Err(r) = check_new_sds(m, &pd, &name, &ip) {
                    return refusal(&r);
                }
                let sys = m.system.as_mut().expect("checked above");
                sys.sds.push(Sds { id: id.clone(), name, pd_id: pd, ip });
                return reply(StatusCode::OK, &json!({ "id": id }));
            }
            "/api/types/Device/instances" => {
                let (Some(dev), Some(pool), Some(sds_id)) = (
                    str_field("deviceCurrentPathname"),
                    str_field("storagePoolId"),
                    str_field("sdsId"),
                ) else {
                    return missing("deviceCurrentPathname/storagePoolId/sdsId");
                };
                let Some(sds_ip) = sys.sds.iter().find(|x| x.id == sds_id).map(|x| x.ip.clone())
                else {
                    return refusal(&super::model::mdm_failed("Could not find the SDS"));
                };
                if sys.devices.iter().any(|d| d.sds_id == sds_id && d.path == dev) {
                    return refusal(&super::model::mdm_failed(
                        "The device is already in use by this SDS",
                    ));
                }
                let size = match m.device_size_kb(&sds_ip, &dev) {
                    Ok(s) => s,
                    Err(r) => return refusal(&r),
                };
                let sys = m.system.as_mut().expect("checked above");
                return match sys.add_device(id, &sds_id, &pool, &dev, size) {
                    Ok(id) => reply(StatusCode::OK, &json!({ "id": id })),
                    Err(r) => refusal(&r),
                };
            }
            "/api/types/Volume/instances" => {
                let (Some(name), Some(pool), Some(size)) =
                    (str_field("name"), str_field("storagePoolId"), str_field("volumeSizeInKb"))
                else {
                    return missing("name/storagePoolId/volumeSizeInKb");
                };
                let Ok(size) = size.parse::<u64>() else {
                    return error(StatusCode::BAD_REQUEST, "volumeSizeInKb is not a number", 1);
                };
                if !sys.pools.iter().any(|p| p.id == pool) {
                    return refusal(&super::model::mdm_failed("Could not find the Storage Pool"));
                }
                if sys.volumes.iter().any(|v| v.name == name) {
                    return refusal(&super::model::mdm_failed(
                        "An object with the given name already exists",
                    ));
                }
                let gran = 8 * 1024 * 1024;
                let size = size.div_ceil(gran) * gran;
                sys.volumes.push(Volume { id: id.clone(), name, pool_id: pool, size_kb: size });
                return reply(StatusCode::OK, &json!({ "id": id }));
            }
            _ => {}
        }
    }
    error(StatusCode::NOT_FOUND, &format!("No such resource: {method} {path}"), 2)
}
