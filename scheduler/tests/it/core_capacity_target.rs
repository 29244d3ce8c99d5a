//! Which gateway the capacity poller reads: none in full mode until every `configure-gateway`
//! step is complete, then the primary MDM's address (or `--gateway`); in pre-configured mode
//! the existing cluster's gateway from the start. The target changes once more when the plan
//! completes, so the poller reads the capacity with every device in.

use scaleio::topology::Mode;
use scheduler::capacity::{Target, target};
use scheduler::core::{Action, StepStatus};

use crate::core_support::{Sim, five_agents, preconfigured, settings};

#[test]
fn full_mode_reads_the_primary_mdms_gateway_once_it_is_configured() {
    let mut sim = Sim::new(settings(Mode::Full), five_agents());
    let mut seen = Vec::new();
    for _ in 0..200 {
        let now = target(&sim.state);
        let configured = {
            let mut gw = sim
                .state
                .plan()
                .steps()
                .filter(|s| matches!(s.action, Action::ConfigureGateway))
                .peekable();
            gw.peek().is_some() && gw.all(|s| s.status == StepStatus::Complete)
        };
        assert_eq!(now.is_some(), configured, "a target exactly once the gateway is configured");
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        if sim.state.plan().is_complete() {
            break;
        }
        sim.run(1);
    }
    assert!(sim.state.plan().is_complete(), "the plan completes");
    let primary = sim.state.mdm_ips().expect("MDMs chosen").primary;
    let endpoint = format!("https://{primary}");
    assert_eq!(
        seen,
        [
            None,
            Some(Target { endpoint: endpoint.clone(), plan_complete: false }),
            Some(Target { endpoint, plan_complete: true }),
        ]
    );
}

#[test]
fn preconfigured_mode_reads_the_given_gateway_from_the_start() {
    let mut s = settings(preconfigured());
    s.gateway = Some("10.0.0.9:8443".to_owned());
    let sim = Sim::new(s, five_agents());
    assert_eq!(
        target(&sim.state),
        Some(Target { endpoint: "https://10.0.0.9:8443".to_owned(), plan_complete: false })
    );
}
