//! Private files replaced atomically: token files, installation records, the `b24` config and
//! export state.
//!
//! A crash mid-write must leave the old content or the new, never a torn file; another user of
//! the machine must not read the file or make us write through a planted link; and two writers in
//! one process (two portals renewing at once, two tasks saving one store) must not share a
//! temporary file, or one renames the other's half-written bytes into place.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `data`, readable and writable by the owner only (mode 0600 on Unix).
///
/// The bytes go to a temporary file beside `path` whose name no other writer uses (process id,
/// a counter and random bits), created exclusively (`O_CREAT | O_EXCL`, never through a symbolic
/// link: `O_NOFOLLOW`), synced, then renamed over `path`; the directory is synced last so the
/// rename itself survives a crash. On failure the temporary file is removed.
pub fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    let (tmp, mut file) = create_temporary(path)?;
    let written = file
        .write_all(data)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            std::fs::rename(&tmp, path)
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path)
}

/// A new, empty temporary file beside `path`, opened for writing.
fn create_temporary(path: &Path) -> io::Result<(PathBuf, File)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    // A name is taken only if something else created it meanwhile: try a few fresh ones.
    let mut last = None;
    for _ in 0..8 {
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", unique_suffix()));
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

/// `<pid>.<counter>.<random>`: unique within the process by the counter, across processes by the
/// process id, and not guessable in advance by the random part.
fn unique_suffix() -> String {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = RandomState::new().hash_one(n);
    format!("{}.{n}.{random:016x}", std::process::id())
}

/// Makes a rename in `path`'s directory durable (a no-op where directories cannot be opened).
fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
