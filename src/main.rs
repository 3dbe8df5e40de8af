use clap::Parser;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

// The system allocator spends a fifth of a cached request in malloc/free under load; mimalloc's
// per-thread heaps do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    mdl::config::load_dotenv();
    let cli = mdl::cli::Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
    mdl::cli::run(cli).await
}
