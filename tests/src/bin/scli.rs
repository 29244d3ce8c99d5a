//! `scli` stand-in: ScaleIO 2.0's CLI over the on-disk cluster model (see `testkit::standins::scli`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = testkit::standins::scli::run_from_env(&args);
    print!("{}", out.output);
    std::process::exit(out.exit_code);
}
