//! The `aviso` command: see `aviso -h`.

fn main() {
    std::process::exit(aviso::cli::run_aviso(std::env::args_os()));
}
