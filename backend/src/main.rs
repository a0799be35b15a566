use std::process::ExitCode;

fn main() -> ExitCode {
    // Blocking threads serve file reads for streams; bounding them bounds memory under many concurrent
    // streams (each thread brings a stack and, with glibc, its own malloc arena).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64)
        .build()
        .expect("the async runtime starts");
    runtime.block_on(fermata::cli::run())
}
