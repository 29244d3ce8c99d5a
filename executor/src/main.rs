//! `scaleio-executor`: runs provisioning steps on one Mesos agent.

fn main() {
    eprintln!("scaleio-executor: not yet available (see issue: the executor)");
    std::process::exit(1);
}
