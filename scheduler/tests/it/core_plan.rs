//! The plan the core builds and the order it runs it in: phases, personas, barriers, reboots.

use scaleio::step::Step;
use scaleio::topology::Persona;
use scheduler::core::{Decision, PhaseName, StepStatus};

use crate::core_support::{Agent, Sim, five_agents, preconfigured, settings};

fn outline(sim: &Sim) -> String {
    let mut out = String::new();
    for phase in sim.state.plan().phases() {
        out.push_str(&format!("{} ({:?})\n", phase.name.as_str(), phase.name.strategy()));
        for s in &phase.steps {
            out.push_str(&format!("  {} [{}]\n", s.id, s.action.kind()));
        }
    }
    out
}

fn phase_of(sim: &Sim, step: &str) -> PhaseName {
    sim.state
        .plan()
        .phases()
        .iter()
        .find(|p| p.steps.iter().any(|s| s.id == step))
        .map(|p| p.name)
        .expect("step in plan")
}

#[test]
fn full_mode_builds_every_phase_and_completes_in_order() {
    let mut sim = Sim::new(settings(scaleio::topology::Mode::Full), five_agents());
    assert!(sim.run(300), "plan did not complete:\n{}", outline(&sim));
    expect_test::expect![[r#"
        preflight (Parallel)
          preflight.agent-1 [preflight]
          preflight.agent-2 [preflight]
          preflight.agent-3 [preflight]
          preflight.agent-4 [preflight]
          preflight.agent-5 [preflight]
        prerequisites (Parallel)
          prerequisites.agent-1 [install-prerequisites]
          prerequisites.agent-2 [install-prerequisites]
          prerequisites.agent-3 [install-prerequisites]
          prerequisites.agent-4 [install-prerequisites]
          prerequisites.agent-5 [install-prerequisites]
        mdm-cluster (Serial)
          mdm-cluster.packages.agent-1 [install-packages]
          mdm-cluster.packages.agent-2 [install-packages]
          mdm-cluster.packages.agent-3 [install-packages]
          mdm-cluster.create-cluster.agent-1 [create-cluster]
          mdm-cluster.add-secondary.agent-1 [add-standby-mdm]
          mdm-cluster.add-tiebreaker.agent-1 [add-standby-mdm]
          mdm-cluster.three-node-mode.agent-1 [three-node-mode]
          mdm-cluster.rename-system.agent-1 [rename-system]
          mdm-cluster.lia-gateway-packages.agent-1 [install-packages]
          mdm-cluster.configure-lia.agent-1 [configure-lia]
          mdm-cluster.configure-gateway.agent-1 [configure-gateway]
          mdm-cluster.lia-gateway-packages.agent-2 [install-packages]
          mdm-cluster.configure-lia.agent-2 [configure-lia]
          mdm-cluster.configure-gateway.agent-2 [configure-gateway]
          mdm-cluster.lia-gateway-packages.agent-3 [install-packages]
          mdm-cluster.configure-lia.agent-3 [configure-lia]
          mdm-cluster.configure-gateway.agent-3 [configure-gateway]
          mdm-cluster.protection-domain.agent-1 [protection-domain]
          mdm-cluster.storage-pool.agent-1 [storage-pool]
        sds (Parallel)
          sds.agent-1 [add-sds]
          sds.agent-2 [add-sds]
          sds.agent-3 [add-sds]
          sds.packages.agent-4 [install-packages]
          sds.agent-4 [add-sds]
          sds.packages.agent-5 [install-packages]
          sds.agent-5 [add-sds]
        sdc (Parallel)
          sdc.agent-1 [configure-sdc]
          sdc.agent-2 [configure-sdc]
          sdc.agent-3 [configure-sdc]
          sdc.agent-4 [configure-sdc]
          sdc.agent-5 [configure-sdc]
        volume-plumbing (Parallel)
          volume-plumbing.rexray.agent-1 [install-rexray]
          volume-plumbing.dvdcli.agent-1 [install-dvdcli]
          volume-plumbing.isolator.agent-1 [install-isolator]
          volume-plumbing.rexray.agent-2 [install-rexray]
          volume-plumbing.dvdcli.agent-2 [install-dvdcli]
          volume-plumbing.isolator.agent-2 [install-isolator]
          volume-plumbing.rexray.agent-3 [install-rexray]
          volume-plumbing.dvdcli.agent-3 [install-dvdcli]
          volume-plumbing.isolator.agent-3 [install-isolator]
          volume-plumbing.rexray.agent-4 [install-rexray]
          volume-plumbing.dvdcli.agent-4 [install-dvdcli]
          volume-plumbing.isolator.agent-4 [install-isolator]
          volume-plumbing.rexray.agent-5 [install-rexray]
          volume-plumbing.dvdcli.agent-5 [install-dvdcli]
          volume-plumbing.isolator.agent-5 [install-isolator]
        reboot (Serial)
          reboot.agent-2 [reboot]
          reboot.agent-3 [reboot]
          reboot.agent-4 [reboot]
          reboot.agent-5 [reboot]
          reboot.agent-1 [reboot]
        verify (Parallel)
          verify.agent-1 [verify]
          verify.agent-2 [verify]
          verify.agent-3 [verify]
          verify.agent-4 [verify]
          verify.agent-5 [verify]
    "#]]
    .assert_eq(&outline(&sim));

    // Personas: the three large agents are the MDMs, by capacity then hostname.
    let personas: Vec<(String, Option<Persona>)> =
        sim.state.durable().nodes.values().map(|n| (n.hostname.clone(), n.persona)).collect();
    assert_eq!(
        personas,
        [
            ("agent-1".into(), Some(Persona::Primary)),
            ("agent-2".into(), Some(Persona::Secondary)),
            ("agent-3".into(), Some(Persona::Tiebreaker)),
            ("agent-4".into(), Some(Persona::Data)),
            ("agent-5".into(), Some(Persona::Data)),
        ]
    );

    // Barriers: every mdm-cluster launch precedes every later-phase launch; each node runs its
    // phases in order; reboots come after everything before them, one node at a time.
    let launched = sim.launched_steps();
    let pos = |id: &str| launched.iter().position(|s| s == id).expect(id);
    let last_mdm =
        launched.iter().rposition(|s| phase_of(&sim, s) == PhaseName::MdmCluster).expect("mdm");
    let first_after = launched
        .iter()
        .position(|s| phase_of(&sim, s) > PhaseName::MdmCluster)
        .expect("later phase");
    assert!(last_mdm < first_after, "a later phase started before the MDM cluster was done");
    for host in ["agent-1", "agent-4"] {
        let phases: Vec<PhaseName> = launched
            .iter()
            .filter(|s| s.ends_with(&format!(".{host}")))
            .map(|s| phase_of(&sim, s))
            .collect();
        assert!(phases.windows(2).all(|w| w[0] <= w[1]), "{host}: {phases:?}");
    }
    let first_reboot = pos("reboot.agent-2");
    assert!(
        launched[..first_reboot]
            .iter()
            .all(|s| phase_of(&sim, s) < PhaseName::Reboot || s.starts_with("reboot."))
    );
    let reboot_order: Vec<&String> = launched.iter().filter(|s| s.starts_with("reboot.")).collect();
    // Each reboot step launches twice: to reboot, then to confirm the new boot id.
    assert_eq!(
        reboot_order,
        [
            "reboot.agent-2",
            "reboot.agent-2",
            "reboot.agent-3",
            "reboot.agent-3",
            "reboot.agent-4",
            "reboot.agent-4",
            "reboot.agent-5",
            "reboot.agent-5",
            "reboot.agent-1",
            "reboot.agent-1"
        ]
    );
    let boot = &sim.state.durable().nodes["agent-1"].boot_id;
    assert_eq!(boot.as_deref(), Some("boot-agent-1-2"), "the new boot id is recorded");
}

#[test]
fn the_mdm_packages_carry_personas_and_the_sdc_gets_primary_and_secondary() {
    let mut sim = Sim::new(settings(scaleio::topology::Mode::Full), five_agents());
    assert!(sim.run(300));
    let step_of = |id: &str| {
        sim.launches.iter().find(|l| l.step == id).map(|l| l.envelope.step.clone()).expect(id)
    };
    let Step::InstallPackages(p) = step_of("mdm-cluster.packages.agent-3") else { panic!() };
    let json = serde_json::to_string(&p).expect("json");
    assert!(json.contains(r#""component":"mdm","role":"tiebreaker""#), "{json}");
    assert!(json.contains(r#""mdm_ips":["10.0.0.1","10.0.0.2"]"#), "{json}");
    let Step::AddStandbyMdm(a) = step_of("mdm-cluster.add-tiebreaker.agent-1") else { panic!() };
    assert_eq!(a.ip, "10.0.0.3");
    let Step::AddSds(sds) = step_of("sds.agent-4") else { panic!() };
    assert_eq!(sds.name.as_str(), "sds_10.0.0.4");
    assert_eq!(sds.devices.len(), 1);
    let json = serde_json::to_string(&sds).expect("json");
    assert!(json.contains(r#""endpoint":"https://10.0.0.1""#), "{json}");
    assert!(!json.contains("password\":\"") || json.contains(r#""password":{"env""#), "{json}");
    let Step::ConfigureSdc(sdc) = step_of("sdc.agent-5") else { panic!() };
    assert_eq!(sdc.mdm_ips, ["10.0.0.1", "10.0.0.2"]);
}

#[test]
fn full_provisioning_launches_nothing_until_three_mdm_hosts_are_chosen() {
    let mut agents = five_agents();
    agents.truncate(2);
    agents.push(Agent::new(4, 1.0, 2048.0));
    let mut sim = Sim::new(settings(scaleio::topology::Mode::Full), agents);
    for _ in 0..3 {
        sim.offer_all();
        let decisions = sim.decide();
        assert!(
            !decisions.iter().any(|d| matches!(d, Decision::Launch { .. })),
            "launched before the MDMs were chosen: {decisions:?}"
        );
        assert!(decisions.iter().any(|d| matches!(d, Decision::Decline { .. })));
    }
    let problems = sim.state.problems().join("\n");
    assert!(problems.contains("full provisioning waits for three MDM hosts"), "{problems}");
    assert!(problems.contains("tiebreaker"), "{problems}");
    assert!(sim.state.plan().steps().next().is_none());

    // A third large agent joins: the plan is built and a REVIVE asks for offers again.
    sim.agents.push(Agent::new(3, 4.0, 8192.0));
    sim.offer_all();
    let decisions = sim.decide();
    assert!(decisions.iter().any(|d| matches!(d, Decision::Launch { .. })), "{decisions:?}");
    assert!(sim.run(300));
}

#[test]
fn persona_attributes_win_over_capacity() {
    let agents = vec![
        Agent::new(1, 8.0, 16384.0),
        Agent::new(2, 4.0, 8192.0).attr("scaleio-persona", "tiebreaker"),
        Agent::new(3, 4.0, 8192.0),
        Agent::new(4, 4.0, 8192.0).attr("scaleio-persona", "primary"),
    ];
    let mut sim = Sim::new(settings(scaleio::topology::Mode::Full), agents);
    sim.offer_all();
    let mdms = sim.state.durable().mdms.clone().expect("chosen");
    assert_eq!(
        (mdms.primary.as_str(), mdms.secondary.as_str(), mdms.tiebreaker.as_str()),
        ("agent-4", "agent-1", "agent-2")
    );
    assert!(sim.run(300));
}

#[test]
fn preconfigured_mode_makes_every_agent_a_data_node_and_shrinks_the_mdm_phase() {
    let mut sim = Sim::new(settings(preconfigured()), five_agents());
    assert!(sim.run(300), "{}", outline(&sim));
    let mdm = &sim
        .state
        .plan()
        .phases()
        .iter()
        .find(|p| p.name == PhaseName::MdmCluster)
        .expect("phase")
        .steps;
    let ids: Vec<&str> = mdm.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["mdm-cluster.protection-domain.agent-1", "mdm-cluster.storage-pool.agent-1"]);
    assert!(sim.state.durable().nodes.values().all(|n| n.persona == Some(Persona::Data)));
    let sdc = sim.launches.iter().find(|l| l.step == "sdc.agent-3").expect("sdc");
    let Step::ConfigureSdc(c) = &sdc.envelope.step else { panic!() };
    assert_eq!(c.mdm_ips, ["10.9.0.1", "10.9.0.2"]);
    let pd = sim
        .launches
        .iter()
        .find(|l| l.step.starts_with("mdm-cluster.protection-domain"))
        .expect("pd");
    let json = serde_json::to_string(&pd.envelope).expect("json");
    assert!(json.contains(r#""endpoint":"https://10.9.0.1""#), "{json}");
}

#[test]
fn no_reboot_drops_the_reboot_phase() {
    let mut s = settings(preconfigured());
    s.no_reboot = true;
    let mut sim = Sim::new(s, five_agents());
    assert!(sim.run(300));
    assert!(sim.state.plan().phases().iter().all(|p| p.name != PhaseName::Reboot));
    assert!(!sim.launched_steps().iter().any(|s| s.starts_with("reboot.")));
}

#[test]
fn a_node_without_free_devices_skips_its_sds_and_still_gets_an_sdc() {
    let mut agents = five_agents();
    agents[4].free_devices.clear();
    let mut sim = Sim::new(settings(preconfigured()), agents);
    assert!(sim.run(300));
    let sds = sim.state.plan().steps().find(|s| s.id == "sds.agent-5").expect("step");
    assert_eq!(sds.status, StepStatus::Complete);
    assert!(
        sds.message.as_deref().unwrap_or("").starts_with("skipped: no free device on agent-5"),
        "{:?}",
        sds.message
    );
    assert!(!sim.launched_steps().contains(&"sds.agent-5".to_owned()));
    assert!(sim.launched_steps().contains(&"sdc.agent-5".to_owned()));
}

#[test]
fn an_agent_without_an_os_attribute_is_reported_and_left_out() {
    let mut agents = five_agents();
    agents[4].attributes.clear();
    agents[3].attributes = vec![("os".into(), "windows".into())];
    let mut sim = Sim::new(settings(preconfigured()), agents);
    assert!(sim.run(300));
    assert!(!sim.state.plan().has_node("agent-5"));
    assert!(!sim.state.plan().has_node("agent-4"));
    let problems = sim.state.problems().join("\n");
    assert!(
        problems.contains(
            "agent-5: the agent has no `os` attribute (expected one of: ubuntu14, rhel7)"
        ),
        "{problems}"
    );
    assert!(problems.contains("agent-4: no bundle for its `os` attribute `windows`"), "{problems}");
}

/// The one-pass barrier snapshot `refresh` uses answers exactly as `deps_complete`, at every
/// point of a full deployment with reboots (serial, parallel and all-node barriers).
#[test]
fn barrier_snapshot_agrees_with_deps_complete_throughout_a_deployment() {
    for mode in [scaleio::topology::Mode::Full, preconfigured()] {
        let mut sim = Sim::new(settings(mode), five_agents());
        let mut checked = 0;
        for _ in 0..300 {
            let plan = sim.state.plan();
            let barriers = plan.barriers();
            for pos in plan.positions() {
                assert_eq!(
                    barriers.deps_complete(pos),
                    plan.deps_complete(pos),
                    "step {} in:\n{}",
                    plan.at(pos).id,
                    outline(&sim)
                );
                checked += 1;
            }
            if plan.is_complete() {
                break;
            }
            sim.run(1);
        }
        assert!(sim.state.plan().is_complete(), "plan did not complete:\n{}", outline(&sim));
        assert!(checked > 1000, "only {checked} positions checked");
    }
}

#[test]
fn the_schedulers_own_host_named_by_ip_reboots_last() {
    let mut s = settings(preconfigured());
    s.scheduler_host = "10.0.0.2".to_owned();
    let mut sim = Sim::new(
        s,
        vec![Agent::new(1, 2.0, 4096.0), Agent::new(2, 2.0, 4096.0), Agent::new(3, 2.0, 4096.0)],
    );
    assert!(sim.run(300));
    let reboot =
        sim.state.plan().phases().iter().find(|p| p.name == PhaseName::Reboot).expect("reboot");
    let order: Vec<&str> = reboot.steps.iter().map(|s| s.node.as_ref()).collect();
    assert_eq!(order, ["agent-1", "agent-3", "agent-2"]);
}
