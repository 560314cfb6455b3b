//! Edits anchored on an opened directory (docs/design.md §12).
//!
//! [`Dir::open`] opens a directory one component at a time from `/`, each
//! with `O_DIRECTORY | O_NOFOLLOW`: a symbolic link anywhere on the path is
//! refused. Everything after that is relative to the descriptor: the file
//! is read with `O_NOFOLLOW`, its replacement is created beside it
//! (`O_EXCL`, 0600 while written), flushed, given its mode and renamed over
//! it with `renameat` within the same directory. Whoever swaps a directory
//! on the path for a symlink after the caller checked it gains nothing: the
//! open fails, or the descriptor still names the directory that was
//! checked. Callers pass a path without symlinks (canonicalised when it was
//! planned); a legitimately symlinked file is edited at its target.
//!
//! Windows has no `openat` in std: there the same calls work on paths and
//! refuse a path whose components are symlinks when they are checked.

use crate::backup::Backups;
use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path, PathBuf};
use zeroize::Zeroizing;

/// Why [`Dir::edit`] did not write.
#[derive(Debug)]
pub enum EditError {
    /// The file is not what the caller read when it planned the edit.
    Changed,
    /// Anything else, as one line (the file is as it was).
    Failed(String),
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditError::Changed => f.write_str("the file changed since it was read"),
            EditError::Failed(m) => f.write_str(m),
        }
    }
}

/// What a file was when it was looked at: which file it is (device and
/// inode on Unix), its size, its modification time and its mode. Two equal
/// stamps mean the same file, almost surely unchanged: a caller that
/// planned on a file it cannot hold in memory (a transcript of gigabytes)
/// compares stamps instead of content (docs/design.md §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    id: (u64, u64),
    size: u64,
    modified: (i64, i64),
    mode: u32,
}

impl FileStamp {
    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file's permission bits (0600 where there are none).
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// The stamp of an open file.
    pub fn of_file(file: &std::fs::File) -> io::Result<FileStamp> {
        imp::stamp_of_file(file)
    }
}

/// A temporary file beside the file it will replace, in an opened
/// directory ([`Dir::create_temp`]): written 0600, flushed and renamed over
/// the file by [`TempFile::commit`]; removed if dropped uncommitted.
pub struct TempFile<'a> {
    dir: &'a Dir,
    tmp: PathBuf,
    name: std::ffi::OsString,
    file: Option<std::fs::File>,
}

impl TempFile<'_> {
    /// The file to write the replacement into.
    pub fn file(&mut self) -> &mut std::fs::File {
        self.file
            .as_mut()
            .expect("the temporary file is open until it is committed")
    }

    /// Flushes the replacement, gives it `mode` and renames it over the
    /// file within the opened directory. A failure leaves the file as it
    /// was and no temporary file behind.
    pub fn commit(mut self, mode: u32) -> io::Result<()> {
        let Some(file) = self.file.take() else {
            return Err(io::Error::other("the temporary file was already committed"));
        };
        file.sync_all()?;
        crate::private::set_mode(&file, mode)?;
        drop(file);
        self.dir.rename_within(&self.tmp, &self.name)?;
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile<'_> {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file = None;
            let _ = self.dir.unlink(&self.tmp);
        }
    }
}

/// An opened directory; see the module documentation.
pub struct Dir {
    path: PathBuf,
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
    /// Elsewhere nothing is held: the walk only checks each step.
    #[cfg(not(unix))]
    _walked: (),
}

fn refused(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} is a symbolic link or not a directory (it may have been swapped since it was checked); refused to follow it",
        path.display()
    ))
}

fn not_regular(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} is not a regular file (a symbolic link?); refused to use it",
        path.display()
    ))
}

/// The absolute form of `path`, refusing `..` (a walk must not climb).
fn absolute(path: &Path) -> io::Result<PathBuf> {
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} contains `..`; give a plain path", path.display()),
        ));
    }
    if path.is_absolute() {
        Ok(path.to_owned())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}

/// The name of a temporary file beside `name`.
fn temp_name(name: &OsStr, attempt: u32) -> PathBuf {
    PathBuf::from(format!(
        ".{}.session-vault-{}-{attempt}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ))
}

#[cfg(unix)]
mod imp {
    use super::*;
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use std::os::fd::OwnedFd;

    const DIR_FLAGS: OFlags = OFlags::RDONLY
        .union(OFlags::DIRECTORY)
        .union(OFlags::NOFOLLOW)
        .union(OFlags::CLOEXEC);

    fn io_err(e: rustix::io::Errno) -> io::Error {
        e.into()
    }

    // The fields of `stat` are narrower than these on some systems.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn stamp(st: &rustix::fs::Stat) -> FileStamp {
        FileStamp {
            id: (st.st_dev as u64, st.st_ino as u64),
            size: st.st_size as u64,
            modified: (st.st_mtime as i64, st.st_mtime_nsec as i64),
            mode: u32::from(st.st_mode) & 0o7777,
        }
    }

    pub(super) fn stamp_of_file(file: &std::fs::File) -> io::Result<FileStamp> {
        Ok(stamp(&rustix::fs::fstat(file).map_err(io_err)?))
    }

    /// Opens (or with `create`, makes with `mode`) each component of `path`.
    pub(super) fn walk(path: &Path, create: Option<u32>) -> io::Result<OwnedFd> {
        let path = absolute(path)?;
        let mut fd = rustix::fs::open("/", DIR_FLAGS, Mode::empty()).map_err(io_err)?;
        let mut so_far = PathBuf::from("/");
        for c in path.components() {
            let Component::Normal(name) = c else { continue };
            so_far.push(name);
            let next = match rustix::fs::openat(&fd, name, DIR_FLAGS, Mode::empty()) {
                Err(rustix::io::Errno::NOENT) if create.is_some() => {
                    let mode = Mode::from_raw_mode(create.unwrap_or(0o700) as _);
                    match rustix::fs::mkdirat(&fd, name, mode) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(io_err(e)),
                    }
                    rustix::fs::openat(&fd, name, DIR_FLAGS, Mode::empty())
                }
                other => other,
            };
            fd = match next {
                Ok(f) => f,
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                    return Err(refused(&so_far))
                }
                Err(e) => return Err(io_err(e)),
            };
        }
        Ok(fd)
    }

    impl Dir {
        pub(super) fn stamp_at(&self, name: &OsStr) -> io::Result<Option<FileStamp>> {
            match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
                    Ok(Some(stamp(&st)))
                }
                Ok(_) => Err(not_regular(&self.path.join(name))),
                Err(rustix::io::Errno::NOENT) => Ok(None),
                Err(e) => Err(io_err(e)),
            }
        }

        pub(super) fn open_file(
            &self,
            name: &OsStr,
        ) -> io::Result<Option<(std::fs::File, FileStamp)>> {
            // Looked at first, so that a device or a FIFO is never opened.
            if self.stamp_at(name)?.is_none() {
                return Ok(None);
            }
            let flags = OFlags::RDONLY
                | OFlags::NOFOLLOW
                | OFlags::CLOEXEC
                | OFlags::NOCTTY
                | OFlags::NONBLOCK;
            let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
                Ok(f) => f,
                Err(rustix::io::Errno::NOENT) => return Ok(None),
                Err(rustix::io::Errno::LOOP) => return Err(refused(&self.path.join(name))),
                Err(e) => return Err(io_err(e)),
            };
            let st = rustix::fs::fstat(&fd).map_err(io_err)?;
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                return Err(not_regular(&self.path.join(name)));
            }
            Ok(Some((std::fs::File::from(fd), stamp(&st))))
        }

        pub(super) fn create_new(&self, name: &Path, mode: u32) -> io::Result<std::fs::File> {
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600))
                .map_err(io_err)?;
            let f = std::fs::File::from(fd);
            crate::private::set_mode(&f, mode)?;
            Ok(f)
        }

        pub(super) fn rename_within(&self, from: &Path, to: &OsStr) -> io::Result<()> {
            rustix::fs::renameat(&self.fd, from, &self.fd, to).map_err(io_err)?;
            // Make the rename itself durable; a failure here loses nothing.
            let _ = rustix::fs::fsync(&self.fd);
            Ok(())
        }

        pub(super) fn unlink(&self, name: &Path) -> io::Result<()> {
            rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()).map_err(io_err)
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use super::*;

    fn stamp(m: &std::fs::Metadata) -> FileStamp {
        let modified = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or((0, 0), |d| {
                (d.as_secs() as i64, i64::from(d.subsec_nanos()))
            });
        FileStamp {
            id: (0, 0),
            size: m.len(),
            modified,
            mode: 0o600,
        }
    }

    pub(super) fn stamp_of_file(file: &std::fs::File) -> io::Result<FileStamp> {
        Ok(stamp(&file.metadata()?))
    }

    pub(super) fn walk(path: &Path, create: Option<u32>) -> io::Result<()> {
        let path = absolute(path)?;
        let mut so_far = PathBuf::new();
        for c in path.components() {
            so_far.push(c);
            if !matches!(c, Component::Normal(_)) {
                continue;
            }
            match std::fs::symlink_metadata(&so_far) {
                Ok(m) if m.is_dir() && !m.file_type().is_symlink() => {}
                Ok(_) => return Err(refused(&so_far)),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create.is_some() => {
                    std::fs::create_dir(&so_far)?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    impl Dir {
        pub(super) fn stamp_at(&self, name: &OsStr) -> io::Result<Option<FileStamp>> {
            let p = self.path.join(name);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => Err(refused(&p)),
                Ok(m) if m.is_file() => Ok(Some(stamp(&m))),
                Ok(_) => Err(not_regular(&p)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        }

        pub(super) fn open_file(
            &self,
            name: &OsStr,
        ) -> io::Result<Option<(std::fs::File, FileStamp)>> {
            if self.stamp_at(name)?.is_none() {
                return Ok(None);
            }
            let f = std::fs::File::open(self.path.join(name))?;
            let st = stamp_of_file(&f)?;
            Ok(Some((f, st)))
        }

        pub(super) fn create_new(&self, name: &Path, _mode: u32) -> io::Result<std::fs::File> {
            crate::private::create_file(&self.path.join(name))
        }

        pub(super) fn rename_within(&self, from: &Path, to: &OsStr) -> io::Result<()> {
            std::fs::rename(self.path.join(from), self.path.join(to))
        }

        pub(super) fn unlink(&self, name: &Path) -> io::Result<()> {
            std::fs::remove_file(self.path.join(name))
        }
    }
}

impl Dir {
    /// Opens the directory `path`, refusing a symbolic link at every step.
    pub fn open(path: &Path) -> io::Result<Dir> {
        Ok(Dir {
            path: absolute(path)?,
            #[cfg(unix)]
            fd: imp::walk(path, None)?,
            #[cfg(not(unix))]
            _walked: imp::walk(path, None)?,
        })
    }

    /// As [`Dir::open`], creating missing directories with `mode`.
    pub fn create_all(path: &Path, mode: u32) -> io::Result<Dir> {
        Ok(Dir {
            path: absolute(path)?,
            #[cfg(unix)]
            fd: imp::walk(path, Some(mode))?,
            #[cfg(not(unix))]
            _walked: imp::walk(path, Some(mode))?,
        })
    }

    /// Opens the directory of the file `file` (see [`Dir::open`]) and
    /// returns it with the file's name.
    pub fn of_file(file: &Path) -> io::Result<(Dir, &OsStr)> {
        let name = file.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} names no file", file.display()),
            )
        })?;
        let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
        Ok((Dir::open(parent.unwrap_or(Path::new(".")))?, name))
    }

    /// The path the directory was opened by (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the regular file `name` (never through a link); `None` when
    /// there is none.
    pub fn read(&self, name: &OsStr) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
        let Some((mut f, _)) = self.open_file(name)? else {
            return Ok(None);
        };
        let mut buf = Zeroizing::new(Vec::new());
        std::io::Read::read_to_end(&mut f, &mut buf)?;
        Ok(Some(buf))
    }

    /// Opens the regular file `name` for reading, never through a link, with
    /// its stamp; `None` when there is none. For a file too large to
    /// [`Dir::read`]: stream it.
    pub fn open_read(&self, name: &OsStr) -> io::Result<Option<(std::fs::File, FileStamp)>> {
        self.open_file(name)
    }

    /// The stamp of the regular file `name` as it is now (a link is
    /// refused); `None` when there is none.
    pub fn stamp(&self, name: &OsStr) -> io::Result<Option<FileStamp>> {
        self.stamp_at(name)
    }

    /// The mode of the regular file `name`; `None` when there is none.
    pub fn mode(&self, name: &OsStr) -> io::Result<Option<u32>> {
        Ok(self.stamp_at(name)?.map(|s| s.mode))
    }

    /// A new temporary file beside `name` in this directory, to stream a
    /// replacement of `name` into; see [`TempFile`].
    pub fn create_temp(&self, name: &OsStr) -> io::Result<TempFile<'_>> {
        let mut attempt = 0u32;
        loop {
            let tmp = temp_name(name, attempt);
            match self.create_new(&tmp, 0o600) {
                Ok(f) => {
                    return Ok(TempFile {
                        dir: self,
                        tmp,
                        name: name.to_owned(),
                        file: Some(f),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Replaces (or creates) `name` with `bytes` atomically: a temporary file
    /// in this directory, written 0600, flushed, given the old file's mode
    /// (or `new_mode` for a new file), renamed over it. A failure leaves the
    /// old file as it was and no temporary file behind.
    pub fn replace(&self, name: &OsStr, bytes: &[u8], new_mode: u32) -> io::Result<()> {
        let mode = self.mode(name)?.unwrap_or(new_mode);
        let mut tmp = self.create_temp(name)?;
        std::io::Write::write_all(tmp.file(), bytes)?;
        tmp.commit(mode)
    }

    /// Removes the file `name`.
    pub fn remove(&self, name: &OsStr) -> io::Result<()> {
        self.unlink(Path::new(name))
    }

    /// The whole edit of one file: reads `name` through this directory and
    /// checks it still holds `expected` (`None`: it must not exist), copies
    /// it into `backups` (when given and the file exists), then replaces it
    /// with `new`. Returns where the backup went.
    pub fn edit(
        &self,
        name: &OsStr,
        expected: Option<&[u8]>,
        new: &[u8],
        new_mode: u32,
        backups: Option<(&Backups, &str)>,
    ) -> Result<Option<PathBuf>, EditError> {
        let shown = self.path.join(name);
        let now = self
            .read(name)
            .map_err(|e| EditError::Failed(format!("cannot read {}: {e}", shown.display())))?;
        if now.as_deref().map(|v| v.as_slice()) != expected {
            return Err(EditError::Changed);
        }
        let backup = match (&now, backups) {
            (Some(original), Some((store, by))) => {
                Some(store.save(&shown, original, by).map_err(|e| {
                    EditError::Failed(format!("cannot write the backup: {e}; nothing was changed"))
                })?)
            }
            _ => None,
        };
        self.replace(name, new, new_mode).map_err(|e| {
            EditError::Failed(match &backup {
                Some(b) => format!(
                    "cannot replace {}: {e}; it is unchanged (backup at {})",
                    shown.display(),
                    b.display()
                ),
                None => format!("cannot replace {}: {e}; it is unchanged", shown.display()),
            })
        })?;
        Ok(backup)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replace_keeps_the_mode_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("rc");
        std::fs::write(&p, b"old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let (dir, name) = Dir::of_file(&p).unwrap();
        dir.replace(name, b"new", 0o644).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        dir.replace(OsStr::new("fresh"), b"x", 0o644).unwrap();
        let m = std::fs::metadata(d.path().join("fresh")).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o644);
        assert!(Dir::of_file(&d.path().join("missing/rc")).is_err());
    }

    #[test]
    fn links_are_refused_on_the_path_and_as_the_file() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("f"), b"mine").unwrap();
        std::os::unix::fs::symlink(&real, d.path().join("link")).unwrap();
        let e = Dir::open(&d.path().join("link")).err().unwrap();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        std::os::unix::fs::symlink(real.join("f"), real.join("g")).unwrap();
        let dir = Dir::open(&real).unwrap();
        assert!(dir.read(OsStr::new("g")).is_err());
        assert!(dir.replace(OsStr::new("g"), b"x", 0o600).is_err());
        assert_eq!(std::fs::read(real.join("f")).unwrap(), b"mine");
    }

    #[test]
    fn the_opened_directory_stays_the_one_checked() {
        let d = tempfile::tempdir().unwrap();
        let proj = d.path().join("proj/.claude");
        let other = d.path().join("home/.claude");
        std::fs::create_dir_all(&proj).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("settings.json"), b"user").unwrap();
        let dir = Dir::open(&proj).unwrap();
        // Swapped after opening: the write still lands in the moved directory.
        std::fs::rename(&proj, d.path().join("proj/aside")).unwrap();
        std::os::unix::fs::symlink(&other, &proj).unwrap();
        dir.replace(OsStr::new("settings.json"), b"project", 0o600)
            .unwrap();
        assert_eq!(std::fs::read(other.join("settings.json")).unwrap(), b"user");
        assert_eq!(
            std::fs::read(d.path().join("proj/aside/settings.json")).unwrap(),
            b"project"
        );
        // And opening again is refused.
        assert!(Dir::open(&proj).is_err());
    }

    /// A temporary directory holding `w/<name>` with `content` and `mode`.
    fn file_in_w(name: &str, content: &[u8], mode: u32) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w").join(name);
        std::fs::create_dir(d.path().join("w")).unwrap();
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        (d, p)
    }

    #[test]
    fn edit_checks_the_content_and_backs_up_privately() {
        let (d, p) = file_in_w(".env", b"K=1\n", 0o644);
        let store = Backups::new(d.path().join("data/backups"), "20260101T000000Z");
        let (dir, name) = Dir::of_file(&p).unwrap();
        assert!(matches!(
            dir.edit(name, Some(b"other"), b"", 0o600, Some((&store, "t"))),
            Err(EditError::Changed)
        ));
        let b = dir
            .edit(name, Some(b"K=1\n"), b"", 0o600, Some((&store, "t")))
            .unwrap()
            .unwrap();
        assert!(b.starts_with(d.path().join("data/backups")));
        assert_eq!(std::fs::read(&b).unwrap(), b"K=1\n");
        assert_eq!(
            std::fs::metadata(&b).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(std::fs::read_dir(d.path().join("w")).unwrap().count(), 1);
    }

    #[test]
    fn a_streamed_replacement_is_anchored_and_an_uncommitted_one_leaves_nothing() {
        use std::io::{Read, Write};
        let (d, p) = file_in_w("log.jsonl", b"one\n", 0o640);
        let (dir, name) = Dir::of_file(&p).unwrap();
        let (mut f, stamp) = dir.open_read(name).unwrap().unwrap();
        assert_eq!((stamp.size(), stamp.mode()), (4, 0o640));
        assert_eq!(FileStamp::of_file(&f).unwrap(), stamp);
        assert_eq!(dir.stamp(name).unwrap(), Some(stamp));
        // Dropped before commit: no temporary file stays.
        let mut tmp = dir.create_temp(name).unwrap();
        tmp.file().write_all(b"half").unwrap();
        drop(tmp);
        assert_eq!(std::fs::read_dir(d.path().join("w")).unwrap().count(), 1);
        let mut tmp = dir.create_temp(name).unwrap();
        let mut old = String::new();
        f.read_to_string(&mut old).unwrap();
        tmp.file()
            .write_all(old.replace("one", "two").as_bytes())
            .unwrap();
        tmp.commit(stamp.mode()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two\n");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(std::fs::read_dir(d.path().join("w")).unwrap().count(), 1);
        // Another file now: another stamp.
        assert_ne!(dir.stamp(name).unwrap(), Some(stamp));
        // Never a link, a device or a missing file.
        std::os::unix::fs::symlink(&p, d.path().join("w/link")).unwrap();
        assert!(dir.open_read(OsStr::new("link")).is_err());
        assert!(dir.stamp(OsStr::new("link")).is_err());
        assert!(dir.open_read(OsStr::new("none")).unwrap().is_none());
        let dev = Dir::open(Path::new("/dev")).unwrap();
        assert!(dev.open_read(OsStr::new("null")).is_err());
    }
}
