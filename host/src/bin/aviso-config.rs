//! The `aviso-config` command: see `aviso-config -h`.

fn main() {
    std::process::exit(aviso::cli::run_aviso_config(std::env::args_os()));
}
