//! `scaleio::gateway` against the gateway stand-in over real HTTPS: login, 401 re-login, TLS
//! trust, find-or-create of every object, statistics, and the stand-in's refusals.

use std::time::Duration;

use scaleio::Secret;
use scaleio::gateway::{Gateway, GatewayConfig, GatewayError};
use scaleio::step::GatewayTls;
use testkit::standins::gateway::GatewayStandin;

use crate::standins_scli::{Cluster, PASSWORD, build_cluster, four_hosts};

async fn setup() -> (Cluster, GatewayStandin) {
    let c = four_hosts();
    build_cluster(&c);
    let gw = GatewayStandin::start(&c.state, c.dir.path(), Duration::from_secs(3600))
        .await
        .expect("gateway");
    (c, gw)
}

fn client(gw: &GatewayStandin, password: &str, tls: GatewayTls) -> Gateway {
    Gateway::new(GatewayConfig {
        endpoint: gw.endpoint(),
        username: "admin".into(),
        password: Secret::new(password),
        tls,
        timeout: Duration::from_secs(10),
    })
    .expect("client")
}

fn trusted(gw: &GatewayStandin) -> GatewayTls {
    GatewayTls::CaFile { path: gw.ca_file().display().to_string() }
}

#[tokio::test]
async fn provisioning_objects_through_the_gateway() {
    let (_c, gw) = setup().await;
    let api = client(&gw, PASSWORD, trusted(&gw));
    assert_eq!(api.version().await.expect("version"), "2.0");
    let sys = api.find_system(None, Some("scaleio")).await.expect("system");
    assert_eq!(gw.logins(), 1);
    assert!(matches!(
        api.find_system(None, Some("other")).await,
        Err(GatewayError::NotFound { kind: "system", .. })
    ));

    let pd = api.ensure_protection_domain(&sys.id, "pd1").await.expect("pd");
    assert!(!pd.already_existed);
    let pd_again = api.ensure_protection_domain(&sys.id, "pd1").await.expect("pd again");
    assert_eq!((pd_again.already_existed, &pd_again.id), (true, &pd.id));
    let pd_id = pd.id.expect("id");

    let pool = api.ensure_storage_pool(&pd_id, "sp1").await.expect("pool");
    assert!(!pool.already_existed);
    assert!(api.ensure_storage_pool(&pd_id, "sp1").await.expect("pool again").already_existed);
    let pool_id = pool.id.expect("id");

    let sds = api.ensure_sds(&pd_id, "sds_10.0.0.4", "10.0.0.4").await.expect("sds");
    assert!(!sds.already_existed);
    assert!(
        api.ensure_sds(&pd_id, "sds_10.0.0.4", "10.0.0.4")
            .await
            .expect("sds again")
            .already_existed
    );
    let sds_id = sds.id.expect("id");
    let err = api
        .ensure_sds(&pd_id, "sds_10.0.0.4", "10.0.0.3")
        .await
        .expect_err("name taken on another IP");
    assert!(
        err.is_already_exists()
            && err.to_string().contains("An object with the given name already exists"),
        "{err}"
    );
    let err = api.ensure_sds(&pd_id, "sds_x", "10.0.0.99").await.expect_err("no such host");
    assert!(err.to_string().contains("Verify that the SDS package is installed"), "{err}");

    let dev = api.ensure_device(&pool_id, &sds_id, "/dev/xvdf").await.expect("device");
    assert!(!dev.already_existed);
    assert!(
        api.ensure_device(&pool_id, &sds_id, "/dev/xvdf")
            .await
            .expect("device again")
            .already_existed
    );
    let err = api.ensure_device(&pool_id, &sds_id, "/dev/xvdg").await.expect_err("too small");
    assert!(err.to_string().contains("the minimum device size is 90 GB"), "{err}");
    let err = api.ensure_device(&pool_id, &sds_id, "/dev/nope").await.expect_err("missing");
    assert!(err.to_string().contains("does not exist on SDS 10.0.0.4"), "{err}");
    let devices = api.devices(&pool_id).await.expect("devices");
    assert_eq!(
        devices.iter().map(|d| d.device_current_path_name.as_str()).collect::<Vec<_>>(),
        ["/dev/xvdf"]
    );

    let vol = api.create_volume(&pool_id, "vol1", 1).await.expect("volume");
    let vols = api.volumes().await.expect("volumes");
    assert_eq!(
        (vols[0].id.as_str(), vols[0].size_in_kb),
        (vol.as_str(), 8 * 1024 * 1024),
        "sizes round up to 8 GB"
    );

    let stats = api.pool_statistics(&pool_id).await.expect("pool stats");
    assert_eq!(stats.capacity_limit_in_kb, 100 * 1024 * 1024);
    assert_eq!((stats.num_of_devices, stats.num_of_volumes), (1, 1));
    assert!((stats.used_percent() - 8.0).abs() < 1e-9, "{}", stats.used_percent());
    let sys_stats = api.system_statistics(&sys.id).await.expect("system stats");
    assert_eq!(
        (sys_stats.num_of_sds, sys_stats.num_of_protection_domains, sys_stats.num_of_storage_pools),
        (1, 1, 1)
    );
    assert!(api.sdcs(&sys.id).await.expect("sdcs").is_empty());
    assert_eq!(gw.logins(), 1, "one login served the whole session");
}

#[tokio::test]
async fn expired_token_means_one_relogin() {
    let (_c, gw) = setup().await;
    // Built as the executor does from a `ClusterAccess::Gateway` step, the password resolved.
    let password = scaleio::SecretRef::Env("PW".into())
        .resolve(|k| (k == "PW").then(|| PASSWORD.to_owned()))
        .expect("secret resolves");
    let config = GatewayConfig::from_step(&gw.endpoint(), "admin", password, &trusted(&gw));
    assert!(!format!("{config:?}").contains(PASSWORD), "the password never prints");
    let api = Gateway::new(config).expect("client");
    api.systems().await.expect("systems");
    gw.expire_tokens().expect("expire");
    let systems = api.systems().await.expect("after expiry");
    assert_eq!(systems.len(), 1);
    assert_eq!(gw.logins(), 2);
}

#[tokio::test]
async fn wrong_password_and_untrusted_certificate_are_refused() {
    let (_c, gw) = setup().await;
    let err = client(&gw, "wrong", trusted(&gw)).systems().await.expect_err("refused");
    assert!(matches!(err, GatewayError::LoginRefused { .. }), "{err}");
    assert!(
        err.to_string().starts_with("gateway login as `admin` was refused (401 Unauthorized)"),
        "{err}"
    );
    let err = client(&gw, PASSWORD, GatewayTls::System).systems().await.expect_err("untrusted");
    assert!(matches!(err, GatewayError::Transport { .. }), "{err}");
    assert_eq!(
        client(&gw, PASSWORD, GatewayTls::Insecure).systems().await.expect("insecure works").len(),
        1
    );
    let err = Gateway::new(GatewayConfig {
        endpoint: gw.endpoint(),
        username: "admin".into(),
        password: Secret::new(PASSWORD),
        tls: GatewayTls::CaFile { path: "/nonexistent/ca.pem".into() },
        timeout: Duration::from_secs(5),
    })
    .expect_err("no ca file");
    assert!(
        err.to_string().starts_with("cannot read the gateway CA file /nonexistent/ca.pem"),
        "{err}"
    );
}

#[tokio::test]
async fn gateway_refuses_api_version_2_0_1_and_tokenless_calls() {
    let (_c, gw) = setup().await;
    let pem = std::fs::read(gw.ca_file()).expect("ca");
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client");
    let resp = http
        .get(format!("{}/api/login", gw.endpoint()))
        .header("Accept", "application/json;version=2.0.1")
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["message"], "Unsupported API version 2.0.1; use 2.0");
    let resp = http
        .get(format!("{}/api/types/System/instances", gw.endpoint()))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
}
