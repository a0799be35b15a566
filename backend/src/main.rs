use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    fermata::cli::run().await
}
