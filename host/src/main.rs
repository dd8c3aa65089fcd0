//! The `parex` binary: everything is in [`parex_host::cli`]; this only connects the
//! process's streams and exit status.

fn main() {
    let stdin = std::io::stdin();
    let code = parex_host::cli::run(
        std::env::args_os(),
        &mut stdin.lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    );
    std::process::exit(code);
}
