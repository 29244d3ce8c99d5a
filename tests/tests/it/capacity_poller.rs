//! The scheduler's capacity poller against the gateway stand-in over real HTTPS: it reports the
//! capacity the stand-in's cluster model holds (and follows it when a device is added), then the
//! reason once the gateway is gone, a wrong password, or a CA file missing on the scheduler's
//! host; never the password.

use std::time::Duration;

use scaleio::Secret;
use scaleio::gateway::{Gateway, GatewayConfig};
use scaleio::step::GatewayTls;
use scheduler::capacity::{self, Access, Report, Target};
use testkit::standins::gateway::GatewayStandin;
use tokio::sync::{mpsc, watch};

use crate::standins_scli::{PASSWORD, build_cluster, four_hosts};

fn access(password: &str, tls: GatewayTls) -> Access {
    Access {
        username: "admin".to_owned(),
        password: Secret::new(password),
        tls,
        system_id: None,
        system_name: "scaleio".to_owned(),
        timeout: Duration::from_secs(5),
    }
}

async fn next(reports: &mut mpsc::Receiver<Report>) -> Report {
    tokio::time::timeout(Duration::from_secs(20), reports.recv())
        .await
        .expect("a report within 20 s")
        .expect("the poller runs")
}

#[tokio::test]
async fn the_poller_reports_the_models_capacity_then_why_the_gateway_cannot_be_read() {
    let c = four_hosts();
    build_cluster(&c);
    let gw = GatewayStandin::start(&c.state, c.dir.path(), Duration::from_secs(3600))
        .await
        .expect("gateway");
    let tls = GatewayTls::CaFile { path: gw.ca_file().display().to_string() };
    let (targets_tx, targets) = watch::channel(None);
    let (reports_tx, mut reports) = mpsc::channel(4);
    let poller = tokio::spawn(capacity::run(
        access(PASSWORD, tls.clone()),
        targets,
        reports_tx,
        // Long: every read below is one the test asks for by changing the target.
        Duration::from_secs(600),
    ));

    // No gateway yet: nothing is read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(reports.try_recv().is_err(), "no report before there is a gateway");

    targets_tx.send_replace(Some(Target { endpoint: gw.endpoint(), plan_complete: false }));
    let first = next(&mut reports).await;
    assert_eq!(first.endpoint, gw.endpoint());
    let empty = first.result.expect("the gateway answers");
    assert_eq!(empty.max_kb, 0, "no device in the cluster yet");

    // A device joins the pool (as the SDS step does through the gateway): the next reading has it.
    let api = Gateway::new(GatewayConfig::from_step(
        &gw.endpoint(),
        "admin",
        Secret::new(PASSWORD),
        &tls,
    ))
    .expect("client");
    let sys = api.find_system(None, None).await.expect("system");
    let pd = api.ensure_protection_domain(&sys.id, "pd1").await.expect("pd").id.expect("pd id");
    let pool = api.ensure_storage_pool(&pd, "sp1").await.expect("pool").id.expect("pool id");
    let sds = api.ensure_sds(&pd, "sds_10.0.0.4", "10.0.0.4").await.expect("sds").id.expect("id");
    api.ensure_device(&pool, &sds, "/dev/xvdf").await.expect("device");
    // Changing the target makes it read at once (as the loop does when the plan completes).
    targets_tx.send_replace(Some(Target { endpoint: gw.endpoint(), plan_complete: true }));
    let grown = next(&mut reports).await.result.expect("still up");
    assert_eq!(grown.max_kb, 100 * 1024 * 1024, "the 100 GiB device of h4");
    assert_eq!(grown.limit_kb, 100 * 1024 * 1024);

    // The gateway goes away: the reason is reported, and never the password.
    let endpoint = gw.endpoint();
    drop(gw);
    targets_tx.send_replace(Some(Target { endpoint, plan_complete: true }));
    let down = next(&mut reports).await.result.expect_err("the gateway is gone");
    assert!(down.contains("gateway request") && down.contains("failed"), "{down}");
    assert!(!down.contains(PASSWORD), "{down}");
    poller.abort();
}

#[tokio::test]
async fn a_wrong_password_or_a_missing_ca_file_is_reported_with_what_to_do() {
    let c = four_hosts();
    build_cluster(&c);
    let gw = GatewayStandin::start(&c.state, c.dir.path(), Duration::from_secs(3600))
        .await
        .expect("gateway");
    let tls = GatewayTls::CaFile { path: gw.ca_file().display().to_string() };
    let (_targets_tx, targets) =
        watch::channel(Some(Target { endpoint: gw.endpoint(), plan_complete: true }));
    let (reports_tx, mut reports) = mpsc::channel(4);
    let wrong = "not-the-password-4711";
    let poller = tokio::spawn(capacity::run(
        access(wrong, tls),
        targets,
        reports_tx,
        Duration::from_secs(60),
    ));
    let refused = next(&mut reports).await.result.expect_err("refused");
    assert!(refused.contains("gateway login as `admin` was refused"), "{refused}");
    assert!(refused.contains("check the admin password"), "{refused}");
    assert!(!refused.contains(wrong), "{refused}");
    poller.abort();

    let missing = GatewayTls::CaFile { path: "/etc/scaleio/no-such-ca.pem".to_owned() };
    let (_targets_tx, targets) =
        watch::channel(Some(Target { endpoint: gw.endpoint(), plan_complete: true }));
    let (reports_tx, mut reports) = mpsc::channel(4);
    let poller = tokio::spawn(capacity::run(
        access(PASSWORD, missing),
        targets,
        reports_tx,
        Duration::from_secs(60),
    ));
    let no_ca = next(&mut reports).await.result.expect_err("no CA");
    assert!(
        no_ca.contains(
            "cannot read the gateway CA file /etc/scaleio/no-such-ca.pem on the scheduler's host"
        ),
        "{no_ca}"
    );
    poller.abort();
}
