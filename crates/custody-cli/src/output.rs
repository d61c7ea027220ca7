//! Exit codes, error printing and stdout handling shared by every command.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

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

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, with `mode` when
/// given, synced, then renamed over `path` (or refused when `path` exists and `overwrite` is
/// false). A reader never sees half a file, and an interrupted run leaves the old file or none.
///
/// A path that names a device, FIFO or socket (`-o /dev/null`, `-o /dev/stdout`) is written in
/// place instead: renaming a file over it would replace the device node itself (a regular
/// `/dev/null` then hands whatever was written to every later reader of it).
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
    overwrite: bool,
) -> anyhow::Result<()> {
    let exists = || {
        anyhow::anyhow!(
            "{} already exists (pass --force to overwrite it)",
            path.display()
        )
    };
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
        && !meta.is_dir()
    {
        if !overwrite {
            return Err(exists());
        }
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        out.write_all(bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        return Ok(());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".custody-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    if let Some(mode) = mode {
        set_mode(tmp.path(), mode)?;
    }
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    if overwrite {
        tmp.persist(path)
            .map_err(|e| e.error)
            .with_context(|| format!("writing {}", path.display()))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == io::ErrorKind::AlreadyExists {
                exists()
            } else {
                anyhow::Error::new(e.error).context(format!("writing {}", path.display()))
            }
        })?;
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod write_tests {
    use std::os::unix::fs::FileTypeExt as _;
    use std::path::Path;

    #[test]
    fn a_device_is_written_in_place_not_replaced() {
        for mode in [None, Some(0o644)] {
            super::write_atomic(Path::new("/dev/null"), b"a document", mode, true).unwrap();
            let meta = std::fs::metadata("/dev/null").unwrap();
            assert!(
                meta.file_type().is_char_device(),
                "/dev/null is still a device"
            );
        }
        let refused = super::write_atomic(Path::new("/dev/null"), b"x", None, false);
        assert!(refused.unwrap_err().to_string().contains("--force"));
    }
}
