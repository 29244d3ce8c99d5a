//! `scaleio-scheduler`: the Mesos framework that deploys ScaleIO onto every agent.

fn main() {
    eprintln!(
        "scaleio-scheduler: not yet available (see issue: the scheduler and the deployment plan)"
    );
    std::process::exit(1);
}
