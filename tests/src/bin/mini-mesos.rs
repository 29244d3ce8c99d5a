//! `mini-mesos`: a strict Mesos master and agent emulator for tests and the local demo.

fn main() {
    eprintln!("mini-mesos: not yet available");
    std::process::exit(1);
}
