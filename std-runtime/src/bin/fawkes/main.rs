//! The `fawkes` binary. See `fawkes --help`.

mod cli;
mod connect;
mod demo;
mod exit;
mod local;
mod logging;
mod push;
mod repeat;
mod secret;
mod serve;
mod settings;
mod tail;

use std::process::ExitCode;

use clap::Parser as _;

use cli::{Cli, Command};

/// mimalloc: small per-message buffers allocated on one task and freed on another are its
/// fast path (see `Cargo.toml`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = match settings::File::load(cli.config.as_deref()) {
        Ok(file) => file,
        Err(e) => return exit::fail(exit::USAGE, e),
    };
    let default_level = match cli.command {
        Command::Tail(_) | Command::Push(_) | Command::Demo(_) => "warn",
        Command::Repeat(_) | Command::Serve(_) => "info",
    };
    logging::init(file.log_format(cli.log_format), default_level);
    let runtime = match cli.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(usize::from(n));
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => return exit::fail(exit::FAILURE, format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Tail(args) => match file.tail(args) {
                Ok(args) => tail::run(args).await,
                Err(e) => exit::fail(exit::USAGE, e),
            },
            Command::Push(args) => match file.push(args) {
                Ok(args) => push::run(args).await,
                Err(e) => exit::fail(exit::USAGE, e),
            },
            Command::Serve(args) => serve::run(file.serve(args)).await,
            Command::Repeat(args) => match file.repeat(args) {
                Ok(args) => repeat::run(args).await,
                Err(e) => exit::fail(exit::USAGE, e),
            },
            Command::Demo(args) => match file.demo(args) {
                Ok(args) => demo::run(args).await,
                Err(e) => exit::fail(exit::USAGE, e),
            },
        }
    })
}
