//! Multi-call host stand-in (uname, lsblk, systemctl, service, reboot, shutdown, apt-get, yum),
//! dispatching on the name it was invoked as (see `testkit::standins::host`).

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let out = testkit::standins::host::run_from_env(&argv);
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    std::process::exit(out.exit_code);
}
