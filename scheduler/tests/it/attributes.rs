//! Agent attributes no operator should have written, fed as offers into the core
//! (`State::apply`/`decide`): fuzzed with proptest (any names, values and types — text,
//! scalars, ranges, sets, unicode, huge values, duplicates, conflicting persona claims) and one
//! fixed case per class of bad input. The core never panics; a node with bad attributes gets a
//! `problem` naming the attribute, what was expected, what was found and what to do, and no
//! steps; the other nodes complete; and conflicting claims never make two primaries.

use std::collections::BTreeMap;

use mesos::v1::{Attribute, Offer, Range, Ranges, Scalar, Set, ValueType};
use proptest::prelude::*;
use scaleio::topology::{Mode, Persona};
use scheduler::core::{Decision, Input, State};

use crate::core_support::{Agent, Sim, offer, preconfigured, settings};

/// Three agents able to host an MDM and two small ones, all with good attributes.
fn good_agents() -> Vec<Agent> {
    crate::core_support::five_agents()
}

fn text(name: &str, value: &str) -> Attribute {
    Attribute::text(name, value)
}

fn scalar(name: &str, value: f64) -> Attribute {
    Attribute {
        kind: ValueType::Scalar,
        text: None,
        scalar: Some(Scalar { value }),
        ..Attribute::text(name, "")
    }
}

fn set(name: &str, items: &[&str]) -> Attribute {
    Attribute {
        kind: ValueType::Set,
        text: None,
        set: Some(Set { item: items.iter().map(|s| (*s).to_owned()).collect() }),
        ..Attribute::text(name, "")
    }
}

fn ranges(name: &str, spans: &[(u64, u64)]) -> Attribute {
    Attribute {
        kind: ValueType::Ranges,
        text: None,
        ranges: Some(Ranges {
            range: spans.iter().map(|&(begin, end)| Range { begin, end }).collect(),
        }),
        ..Attribute::text(name, "")
    }
}

/// A cluster of agents where some offer the attributes a test chose instead of their own.
struct Cluster {
    sim: Sim,
    /// Hostname → the attributes its offers carry.
    attributes: BTreeMap<String, Vec<Attribute>>,
    offers: u32,
}

impl Cluster {
    fn new(mode: Mode, agents: Vec<Agent>, attributes: BTreeMap<String, Vec<Attribute>>) -> Self {
        Cluster { sim: Sim::new(settings(mode), agents), attributes, offers: 0 }
    }

    fn offer_all(&mut self) {
        let mut offers: Vec<Offer> = Vec::new();
        for a in &self.sim.agents {
            self.offers += 1;
            let mut o = offer(&format!("A{}", self.offers), a);
            if let Some(attrs) = self.attributes.get(&a.host) {
                o.attributes = attrs.clone();
            }
            offers.push(o);
        }
        self.sim.apply(Input::Offers(offers));
    }

    /// Offer, decide, finish, tick, until the plan completes or `rounds` run out.
    fn run(&mut self, rounds: usize) -> bool {
        for _ in 0..rounds {
            self.offer_all();
            self.sim.decide();
            self.sim.finish_all();
            if self.sim.state.plan().is_complete() && self.sim.running.is_empty() {
                return true;
            }
            self.sim.now = self.sim.now.plus_secs(1);
            self.sim.apply(Input::Tick);
        }
        false
    }

    fn state(&self) -> &State {
        &self.sim.state
    }

    fn problem(&self, host: &str) -> Option<String> {
        self.state().durable().nodes.get(host).and_then(|n| n.problem.clone())
    }

    fn hosts_with_steps(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .state()
            .plan()
            .steps()
            .map(|s| s.node.to_string())
            .filter(|n| !n.is_empty())
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }

    fn launched_on(&self, host: &str) -> usize {
        self.sim.launches.iter().filter(|l| l.host == host).count()
    }

    /// The invariants that hold whatever the attributes: checked after every run.
    fn check_invariants(&self) {
        let nodes = &self.state().durable().nodes;
        for node in nodes.values() {
            if let Some(problem) = &node.problem {
                assert!(
                    !self.state().plan().has_node(&node.hostname),
                    "{} has a problem and steps: {problem}",
                    node.hostname
                );
                assert_eq!(self.launched_on(&node.hostname), 0, "{problem}");
                assert_clear(problem);
            }
        }
        let primaries: Vec<&str> = nodes
            .values()
            .filter(|n| n.persona == Some(Persona::Primary))
            .map(|n| n.hostname.as_str())
            .collect();
        assert!(primaries.len() <= 1, "two primaries: {primaries:?}");
        if let Some(m) = &self.state().durable().mdms {
            assert!(
                m.primary != m.secondary
                    && m.secondary != m.tiebreaker
                    && m.primary != m.tiebreaker,
                "one host, two MDM roles: {m:?}"
            );
            for host in [&m.primary, &m.secondary, &m.tiebreaker] {
                assert!(nodes[host].problem.is_none(), "MDM {host} has a problem");
            }
        }
        // The state stays storable (ZooKeeper takes at most 1 MB) and the health page readable.
        let size = self.state().persisted().to_json().len();
        assert!(size < 400_000, "the persisted state grew to {size} bytes");
        for p in self.state().problems() {
            assert!(p.len() < 2_000, "a problem of {} bytes: {}…", p.len(), &p[..200]);
        }
    }
}

/// A problem an operator can act on: it names an attribute in backquotes, says what was expected
/// and what was found, and ends with a hint.
fn assert_clear(problem: &str) {
    assert!(
        problem.contains("attribute `") || problem.contains("`os` attribute"),
        "names the attribute: {problem}"
    );
    assert!(problem.contains("\nhint: "), "says what to do: {problem}");
    assert!(
        [
            "expected",
            "may only",
            "must",
            "missing",
            "twice",
            "more than once",
            "empty",
            "collides",
            "is not",
            "already lists",
            "longer",
            "exist for",
            "asks for"
        ]
        .iter()
        .any(|w| problem.contains(w)),
        "says what was expected: {problem}"
    );
}

/// A full deployment of the good agents plus `bad` (agent-9, 4 CPUs) offering `attrs`: agent-9
/// gets a problem containing each of `want`, no steps and no launches, and the others complete.
fn bad_agent_is_refused_and_others_complete(mode: Mode, attrs: Vec<Attribute>, want: &[&str]) {
    let mut agents = good_agents();
    agents.push(Agent::new(9, 4.0, 8192.0));
    let mut c = Cluster::new(mode, agents, BTreeMap::from([("agent-9".to_owned(), attrs)]));
    assert!(c.run(300), "the good nodes complete");
    c.check_invariants();
    let problem = c.problem("agent-9").expect("agent-9 has a problem");
    for w in want {
        assert!(problem.contains(w), "want {w:?} in: {problem}");
    }
    assert!(!c.hosts_with_steps().contains(&"agent-9".to_owned()));
    for host in ["agent-1", "agent-2", "agent-3", "agent-4", "agent-5"] {
        assert_eq!(c.problem(host), None);
        assert!(c.launched_on(host) > 0, "{host} was provisioned");
    }
    let health: Vec<String> = c.state().problems();
    assert!(health.iter().any(|p| p.starts_with("agent-9: ")), "{health:?}");
}

#[test]
fn an_unknown_persona_is_a_problem_of_that_node() {
    bad_agent_is_refused_and_others_complete(
        Mode::Full,
        vec![text("os", "ubuntu14"), text("scaleio-persona", "master")],
        &["attribute `scaleio-persona` has value `master`; expected one of primary"],
    );
}

#[test]
fn a_persona_given_as_a_set_range_or_number_is_not_silently_ignored() {
    // `--attributes=scaleio-persona:{primary}` makes Mesos send a SET, not text.
    for (attr, found) in [
        (set("scaleio-persona", &["primary"]), "`{primary}`"),
        (ranges("scaleio-persona", &[(1, 3)]), "`[1-3]`"),
        (scalar("scaleio-persona", 1.0), "`1`"),
    ] {
        bad_agent_is_refused_and_others_complete(
            Mode::Full,
            vec![text("os", "ubuntu14"), attr],
            &["attribute `scaleio-persona`", found],
        );
    }
}

#[test]
fn a_missing_or_unknown_os_is_a_problem_naming_the_bundles() {
    bad_agent_is_refused_and_others_complete(
        preconfigured(),
        vec![text("rack", "r1")],
        &["the agent has no `os` attribute (expected one of: ubuntu14, rhel7)", "hint: "],
    );
    bad_agent_is_refused_and_others_complete(
        preconfigured(),
        vec![text("os", "windows")],
        &[
            "no bundle for its `os` attribute `windows` (bundles exist for: ubuntu14, rhel7)",
            "hint: ",
        ],
    );
    bad_agent_is_refused_and_others_complete(
        preconfigured(),
        vec![set("os", &["ubuntu14", "rhel7"])],
        &["no bundle for its `os` attribute `{ubuntu14,rhel7}`"],
    );
}

#[test]
fn two_different_os_attributes_are_a_problem_not_a_guess() {
    bad_agent_is_refused_and_others_complete(
        preconfigured(),
        vec![text("os", "ubuntu14"), text("os", "rhel7")],
        &["attribute `os` is given more than once"],
    );
}

#[test]
fn repeated_and_malformed_placement_attributes_are_problems() {
    let cases: Vec<(Vec<Attribute>, &str)> = vec![
        (
            vec![text("scaleio-sds-domains", "pd1"), text("scaleio-sds-domains", "pd2")],
            "attribute `scaleio-sds-domains` is given more than once",
        ),
        (vec![text("scaleio-sds-domains", "pd1,,pd2")], "has an empty entry"),
        (vec![text("scaleio-sds-domains", "pd1")], "attribute `scaleio-sds-pd1` is missing"),
        (vec![text("scaleio-sdc-pd9", "sp1")], "attribute `scaleio-sdc-pd9` is not referenced"),
        (
            vec![
                text("scaleio-sds-domains", "pd1"),
                text("scaleio-sds-pd1", "sp1"),
                text("scaleio-sds-sp1", "xvdf"),
            ],
            "is not an absolute device path",
        ),
        (vec![text("scaleio-sds-domains", "bäd name")], "names an invalid ScaleIO name"),
    ];
    for (mut attrs, want) in cases {
        attrs.insert(0, text("os", "rhel7"));
        bad_agent_is_refused_and_others_complete(Mode::Full, attrs, &[want]);
    }
}

#[test]
fn huge_and_unprintable_values_are_reported_shortened() {
    let huge = "p".repeat(1 << 20);
    bad_agent_is_refused_and_others_complete(
        Mode::Full,
        vec![text("os", "ubuntu14"), text("scaleio-persona", &huge)],
        &["attribute `scaleio-persona` has value `pppp", "(1048576 bytes, too long)"],
    );
    bad_agent_is_refused_and_others_complete(
        Mode::Full,
        vec![text("os", &format!("ubuntu14\n{huge}"))],
        &["`os` attribute `ubuntu14\\npppp", "(1048585 bytes, too long)"],
    );
    let devices = vec!["/dev/xvdf"; 50_000].join(",");
    bad_agent_is_refused_and_others_complete(
        Mode::Full,
        vec![
            text("os", "ubuntu14"),
            text("scaleio-sds-domains", "pd1"),
            text("scaleio-sds-pd1", "sp1"),
            text("scaleio-sds-sp1", &devices),
        ],
        &["attribute `scaleio-sds-sp1` lists `/dev/xvdf` twice"],
    );
    // An attribute nothing reads may be big; it costs the stored state nothing.
    let mut agents = good_agents();
    agents.push(Agent::new(9, 1.0, 2048.0));
    let mut c = Cluster::new(
        preconfigured(),
        agents,
        BTreeMap::from([("agent-9".to_owned(), vec![text("os", "rhel7"), text("notes", &huge)])]),
    );
    assert!(c.run(300));
    assert_eq!(c.problem("agent-9"), None);
    assert!(c.launched_on("agent-9") > 0);
    c.check_invariants();
}

#[test]
fn two_agents_claiming_primary_make_no_primary_and_say_so() {
    let mut agents = good_agents();
    agents.push(Agent::new(8, 4.0, 8192.0));
    agents.push(Agent::new(9, 4.0, 8192.0));
    let claim = |os: &str| vec![text("os", os), text("scaleio-persona", "primary")];
    let mut c = Cluster::new(
        Mode::Full,
        agents,
        BTreeMap::from([
            ("agent-8".to_owned(), claim("ubuntu14")),
            ("agent-9".to_owned(), claim("rhel7")),
        ]),
    );
    assert!(!c.run(30), "nothing can be provisioned before the claim is settled");
    c.check_invariants();
    assert!(c.state().durable().mdms.is_none());
    assert!(c.sim.launches.is_empty());
    let problems = c.state().problems();
    assert!(
        problems.iter().any(|p| p.contains(
            "agents agent-8 and agent-9 both ask to be the primary MDM (attribute `scaleio-persona`); keep it on one"
        )),
        "{problems:?}"
    );

    // The operator removes one claim (and restarts that agent): the deployment proceeds with it
    // as the primary.
    c.attributes.insert("agent-9".to_owned(), vec![text("os", "rhel7")]);
    c.sim
        .agents
        .iter_mut()
        .filter(|a| a.host == "agent-9")
        .for_each(|a| a.agent_id = "S9-b".into());
    assert!(c.run(300), "completes once the claim is on one agent");
    c.check_invariants();
    assert_eq!(c.state().durable().mdms.as_ref().map(|m| m.primary.as_str()), Some("agent-8"));
}

#[test]
fn a_claim_for_a_persona_already_taken_is_a_problem_not_a_silent_data_node() {
    let mut agents = good_agents();
    let mut c = Cluster::new(Mode::Full, agents.clone(), BTreeMap::new());
    assert!(c.run(300));
    let primary = c.state().durable().mdms.clone().expect("chosen").primary;
    agents.push(Agent::new(9, 4.0, 8192.0));
    c.sim.agents.push(Agent::new(9, 4.0, 8192.0));
    c.attributes.insert(
        "agent-9".to_owned(),
        vec![text("os", "ubuntu14"), text("scaleio-persona", "primary")],
    );
    c.run(100);
    c.check_invariants();
    let problem = c.problem("agent-9").expect("agent-9 has a problem");
    assert!(
        problem.contains(&format!(
            "attribute `scaleio-persona` asks for the primary MDM, but {primary} already is"
        )),
        "{problem}"
    );
    assert_eq!(c.state().durable().mdms.as_ref().map(|m| &m.primary), Some(&primary));
}

#[test]
fn a_node_whose_attributes_are_fixed_and_agent_restarted_is_provisioned() {
    // The problem's hint says: fix the attribute and restart the agent. That must work.
    let mut agents = good_agents();
    agents.push(Agent::new(9, 1.0, 2048.0));
    let mut c = Cluster::new(
        preconfigured(),
        agents,
        BTreeMap::from([("agent-9".to_owned(), vec![text("os", "windows")])]),
    );
    assert!(c.run(300));
    assert!(c.problem("agent-9").is_some());
    c.attributes.insert("agent-9".to_owned(), vec![text("os", "ubuntu14")]);
    c.sim
        .agents
        .iter_mut()
        .filter(|a| a.host == "agent-9")
        .for_each(|a| a.agent_id = "S9-b".into());
    assert!(c.run(300));
    assert_eq!(c.problem("agent-9"), None);
    assert!(c.launched_on("agent-9") > 0, "agent-9 was provisioned after the fix");
    c.check_invariants();
}

// ------------------------------------------------------------------------------------------------
// Fuzzing

fn names() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("os".to_owned()),
        Just("scaleio-persona".to_owned()),
        Just("scaleio-sds-domains".to_owned()),
        Just("scaleio-sdc-domains".to_owned()),
        "scaleio-sd[sc]-[a-z0-9]{1,4}",
        "scaleio-[a-z-]{0,8}",
        "\\PC{0,12}",
        "[a-z]{1,8}",
    ]
}

fn values() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ubuntu14".to_owned()),
        Just("rhel7".to_owned()),
        Just("primary".to_owned()),
        Just("secondary".to_owned()),
        Just("tiebreaker".to_owned()),
        Just("data".to_owned()),
        Just("pd1".to_owned()),
        Just("/dev/xvdf".to_owned()),
        "[a-z0-9]{1,4}(,[a-z0-9 ]{0,4}){0,3}",
        "(/dev/[a-z]{1,5},?){1,3}",
        "\\PC{0,24}",
        "\\PC{0,4}[\\n\\t\\u{0}]\\PC{0,4}",
        (1usize..300_000).prop_map(|n| "v".repeat(n)),
    ]
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        4 => (names(), values()).prop_map(|(n, v)| text(&n, &v)),
        1 => (names(), prop_oneof![any::<f64>(), -1e6..1e6f64]).prop_map(|(n, v)| scalar(&n, v)),
        1 => (names(), prop::collection::vec((any::<u64>(), any::<u64>()), 0..3)).prop_map(
            |(n, spans)| ranges(&n, &spans)
        ),
        1 => (names(), prop::collection::vec(values(), 0..3)).prop_map(|(n, items)| {
            let items: Vec<&str> = items.iter().map(String::as_str).collect();
            set(&n, &items)
        }),
        // A type that does not match the value present, as a broken master might send.
        1 => names().prop_map(|n| Attribute { kind: ValueType::Set, ..text(&n, "x") }),
    ]
}

/// Up to four extra agents (agent-6 …) with arbitrary attributes, some of them big enough to
/// host an MDM, some claiming personas.
fn extra_agents() -> impl Strategy<Value = Vec<(bool, Vec<Attribute>)>> {
    prop::collection::vec((any::<bool>(), prop::collection::vec(attribute(), 0..6)), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_attributes_never_break_the_core_or_the_good_nodes(
        full in any::<bool>(),
        extra in extra_agents(),
    ) {
        let mut agents = good_agents();
        let mut attributes = BTreeMap::new();
        for (i, (big, attrs)) in extra.into_iter().enumerate() {
            let n = 6 + i as u32;
            agents.push(if big { Agent::new(n, 4.0, 8192.0) } else { Agent::new(n, 1.0, 2048.0) });
            attributes.insert(format!("agent-{n}"), attrs);
        }
        let mode = if full { Mode::Full } else { preconfigured() };
        let mut c = Cluster::new(mode, agents, attributes);
        let complete = c.run(300);
        c.check_invariants();
        // With claims on the extra agents settled, the good agents complete; a conflicting
        // claim, or a claim by an agent too small to run an MDM, holds full provisioning back
        // and says so.
        let waiting = c.state().problems().iter().any(|p| {
            p.contains("both ask to be the") || p.contains("MDM (attribute `scaleio-persona`) but offers")
        });
        if !waiting {
            prop_assert!(complete, "not complete: {:?}", c.state().problems());
            for host in ["agent-1", "agent-2", "agent-3", "agent-4", "agent-5"] {
                prop_assert!(c.launched_on(host) > 0, "{} was not provisioned", host);
            }
        } else {
            prop_assert!(c.sim.launches.is_empty());
        }
        let no_launch = c.sim.decisions.iter().all(|d| match d {
            Decision::Launch { agent_id, .. } => {
                let host = c.sim.agents.iter().find(|a| a.agent_id == agent_id.value).map(|a| a.host.clone());
                host.is_some_and(|h| c.problem(&h).is_none())
            }
            _ => true,
        });
        prop_assert!(no_launch, "a launch on a node with a problem");
    }
}

/// An agent too small to run an MDM that claims an MDM persona: full provisioning waits and
/// says why (the MDMs are chosen once, so choosing it would hold the cluster back for good),
/// and once the claim moves to an agent that can, the deployment completes.
#[test]
fn a_claimed_mdm_too_small_to_run_one_holds_the_choice_and_says_why() {
    let mut agents = good_agents();
    agents.push(Agent::new(6, 1.0, 2048.0));
    let claim = |persona: &str| vec![text("os", "ubuntu14"), text("scaleio-persona", persona)];
    let attributes = BTreeMap::from([("agent-6".to_owned(), claim("primary"))]);
    let mut c = Cluster::new(Mode::Full, agents, attributes);
    assert!(!c.run(20));
    let problems = c.state().problems();
    assert!(
        problems.iter().any(|p| p.contains("agent agent-6 asks to be the primary MDM")
            && p.contains("offers 1 CPUs and 2048 MB")
            && p.contains("needs 1.51 CPUs and 3088 MB")),
        "{problems:?}"
    );
    assert!(c.state().durable().mdms.is_none(), "no MDM is chosen");
    assert!(c.sim.launches.is_empty());
    // The operator moves the claim to a large agent (restarting both agents).
    c.attributes.insert("agent-6".to_owned(), vec![text("os", "ubuntu14")]);
    c.attributes.insert("agent-3".to_owned(), claim("primary"));
    assert!(c.run(300), "{:?}", c.state().problems());
    assert_eq!(c.state().durable().mdms.as_ref().map(|m| m.primary.as_str()), Some("agent-3"));
}
