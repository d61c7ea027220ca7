//! Exit codes, error printing and stdout handling shared by every command.

use std::io::{self, Write};
use std::process::ExitCode;

/// What a command concluded, mapped to the exit code the house style documents. A command
/// that could not do its job (or could not decide) returns an error instead: exit 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Done, valid, or allowed: exit 0.
    Ok,
    /// A check failed (invalid signature, denied): exit 1.
    Failed,
}

impl Outcome {
    pub(crate) fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Failed => 1,
        }
    }
}

/// Turns a command's result into the process exit code, printing the error chain (and a
/// `hint:` line where the error carries one) on stderr. A broken pipe is not an error.
pub(crate) fn finish(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let mut stderr = io::stderr().lock();
            let _ = write!(stderr, "error: {err}");
            for cause in err.chain().skip(1) {
                let _ = write!(stderr, ": {cause}");
            }
            let _ = writeln!(stderr);
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Writes `bytes` to stdout; a closed pipe surfaces as an `io::Error` that [`finish`] treats
/// as success.
pub(crate) fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}
