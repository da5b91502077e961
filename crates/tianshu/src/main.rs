//! `tianshu`: one binary, subcommands.

use clap::Parser;
use tianshu::cli::{run, Cli};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: tianshu::allocator::Split = tianshu::allocator::Split;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let (level, format) = cli.logging();
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    match run(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
