//! `rtrace-run`: runs compiled scripts (`rtrace build`) without the compiler.
fn main() -> std::process::ExitCode {
    rtrace::oom::ensure_headroom();
    std::process::ExitCode::SUCCESS
}
