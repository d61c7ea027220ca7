//! Lexical path handling for paths inside an image: tar entry names, link targets, and the
//! member names of an outer archive. Nothing here touches the host filesystem.

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathProblem {
    /// `..` would climb above the root.
    Escapes,
}

/// Normalises a path inside an image to its canonical form: relative to the root, no leading
/// `./` or `/`, no empty or `.` components, `..` applied lexically. The root itself is `""`.
///
/// A `..` that would climb above the root is refused rather than clamped: a tar entry that
/// tries it is hostile, and Docker refuses such layers too.
pub(crate) fn normalize(path: &str) -> Result<String, PathProblem> {
    // Tar writers put `./` before every path and `/` after a directory's; stripping one of
    // each leaves the common case already normal.
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    if is_normal(trimmed) {
        return Ok(trimmed.to_owned());
    }
    let mut out: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(PathProblem::Escapes);
                }
            }
            c => out.push(c),
        }
    }
    Ok(out.join("/"))
}

/// Whether a path is already in normal form, the common case for tar entries written by
/// image builders (checked without allocating).
fn is_normal(path: &str) -> bool {
    // Bytes, not chars: `/` and `.` are ASCII and never part of a multi-byte character.
    !path.is_empty()
        && path
            .as_bytes()
            .split(|&b| b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// Joins a link target to the directory holding the link and normalises it, clamping `..`
/// at the root as the kernel does inside a chroot: an absolute target is taken from the image
/// root, never the host's.
pub(crate) fn join_clamped(dir: &str, target: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    if !target.starts_with('/') {
        out.extend(dir.split('/').filter(|c| !c.is_empty()));
    }
    for comp in target.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

/// The parent directory of a normalised path (`""` for a top-level name).
pub(crate) fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// The last component of a normalised path.
pub(crate) fn file_name(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// Joins a normalised directory and a name.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        let mut out = String::with_capacity(dir.len() + 1 + name.len());
        out.push_str(dir);
        out.push('/');
        out.push_str(name);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_dot_slash_and_leading_slash() {
        assert_eq!(normalize("./etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(normalize("/etc//passwd/").unwrap(), "etc/passwd");
        assert_eq!(normalize("./").unwrap(), "");
        assert_eq!(normalize("a/b/../c").unwrap(), "a/c");
        assert_eq!(normalize("a/./b").unwrap(), "a/b");
        assert_eq!(normalize("usr/bin/env").unwrap(), "usr/bin/env");
        assert_eq!(normalize("").unwrap(), "");
        assert_eq!(normalize("..").unwrap_err(), PathProblem::Escapes);
        // What tar writers put around names: a directory's trailing `/`, a leading `./`.
        assert_eq!(normalize("usr/bin/").unwrap(), "usr/bin");
        assert_eq!(normalize("./usr/bin/").unwrap(), "usr/bin");
        assert_eq!(normalize(".//usr//").unwrap(), "usr");
        assert_eq!(normalize("./../etc/"), Err(PathProblem::Escapes));
        assert_eq!(normalize("./a/../../b"), Err(PathProblem::Escapes));
        assert_eq!(normalize("./.../"), Ok("...".to_owned()));
    }

    #[test]
    fn normalize_refuses_escapes() {
        assert_eq!(normalize("../etc/passwd"), Err(PathProblem::Escapes));
        assert_eq!(normalize("a/../../b"), Err(PathProblem::Escapes));
        assert_eq!(normalize("/../x"), Err(PathProblem::Escapes));
    }

    #[test]
    fn join_clamped_reroots_absolute_and_clamps_dotdot() {
        assert_eq!(
            join_clamped("etc", "../usr/lib/os-release"),
            "usr/lib/os-release"
        );
        assert_eq!(
            join_clamped("etc", "/usr/lib/os-release"),
            "usr/lib/os-release"
        );
        assert_eq!(join_clamped("a/b", "../../../../etc/passwd"), "etc/passwd");
        assert_eq!(join_clamped("", "x"), "x");
    }

    #[test]
    fn parent_and_file_name() {
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("a"), "");
        assert_eq!(file_name("a/b/c"), "c");
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("a", "x"), "a/x");
    }
}
