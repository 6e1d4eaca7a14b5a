//! Files the server writes for others to read: recording playlists and
//! segments, replays and posters, lobby pictures and videos, record photos.
//!
//! Every one is written the same way: under a unique hidden name in the
//! directory it belongs in, flushed to disk, then renamed over its final name,
//! and the directory flushed after the rename. So a reader sees the old file
//! or the new one, never half of one; a crash leaves at worst a hidden
//! temporary, never a torn file under a real name; and two writers of the same
//! file never share a temporary.
//!
//! Temporary names are `.{final name}.{random}.tmp`: hidden, and never one of
//! the names a directory's readers serve. Everything here blocks (it waits for
//! the disk): call it from a blocking thread.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use tempfile::NamedTempFile;

/// Replaces `path` with `data`: readers see the old file or the new one,
/// never half of one.
pub fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    write_with(path, |file| file.write_all(data))
}

/// Writes `path` with whatever `write` puts in the file it is given (a copy,
/// chunks as they come), then replaces `path` with it as
/// [`write_atomically`] does. When `write` fails, `path` is left as it was
/// and the temporary is removed.
pub fn write_with(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let mut pending = Pending::beside(path)?;
    write(pending.file())?;
    pending.commit(path)
}

/// Who may read a file written here besides the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// What `File::create` gives (the umask decides): media others serve or
    /// back up.
    Shared,
    /// The server's user only: residents' private pictures.
    OwnerOnly,
}

/// Writes `data` to `path` unless a file is there already: false then, and
/// that file is left alone (it is someone else's, or the same content
/// written before).
pub fn write_new(path: &Path, data: &[u8], access: Access) -> io::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let mut pending = Pending::beside_with(path, access)?;
    pending.file().write_all(data)?;
    pending.commit_new(path)
}

/// Copies `from` to `to` as [`write_with`] writes (so `to` is never half a
/// copy), then removes `from`. A rename when both are on the same file
/// system; a copy otherwise (an upload's spool may be elsewhere).
pub fn move_into_place(from: &Path, to: &Path) -> io::Result<()> {
    if std::fs::rename(from, to).is_ok() {
        // `from` was complete on disk only if its writer synced it: make sure.
        File::open(to)?.sync_all()?;
        sync_directory_of(to)?;
        return Ok(());
    }
    write_with(to, |file| {
        io::copy(&mut File::open(from)?, file)?;
        Ok(())
    })?;
    let _ = std::fs::remove_file(from);
    Ok(())
}

/// A file being written under a temporary name beside its destination, for
/// writers that need the path itself (libav opens its output by name) or
/// write in steps. Dropped without [`commit`](Self::commit), it is removed.
#[derive(Debug)]
pub struct Pending {
    file: NamedTempFile,
}

impl Pending {
    /// A fresh empty file with a unique hidden name in `dest`'s directory (so
    /// that the rename is atomic), with [`Access::Shared`] permissions: those
    /// `File::create` would give, not the owner-only ones of a temporary
    /// file, so others (a reverse proxy, a backup) read the result as before.
    pub fn beside(dest: &Path) -> io::Result<Self> {
        Self::beside_with(dest, Access::Shared)
    }

    /// [`beside`](Self::beside), readable as `access` says.
    pub fn beside_with(dest: &Path, access: Access) -> io::Result<Self> {
        let dir = match dest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let prefix = format!(
            ".{}.",
            dest.file_name().unwrap_or_default().to_string_lossy()
        );
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(not(unix))]
        let _ = access;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // The process umask still applies, as it does for `File::create`.
            let mode = match access {
                Access::Shared => 0o666,
                Access::OwnerOnly => 0o600,
            };
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        Ok(Self {
            file: builder.tempfile_in(dir)?,
        })
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn file(&mut self) -> &mut File {
        self.file.as_file_mut()
    }

    /// Flushes the file to disk, renames it over `dest` and flushes the
    /// directory, so that after a crash `dest` is the old file or all of the
    /// new one. On failure the temporary is removed and `dest` left as it was.
    pub fn commit(mut self, dest: &Path) -> io::Result<()> {
        self.file.flush()?;
        // Also what others wrote to it by name (libav): fsync is per file,
        // not per descriptor.
        self.file.as_file().sync_all()?;
        self.file.persist(dest).map_err(|e| e.error)?;
        sync_directory_of(dest)
    }

    /// [`commit`](Self::commit) unless `dest` exists: false then, `dest` is
    /// left alone and the temporary removed.
    pub fn commit_new(mut self, dest: &Path) -> io::Result<bool> {
        self.file.flush()?;
        self.file.as_file().sync_all()?;
        match self.file.persist_noclobber(dest) {
            Ok(_) => {}
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(e.error),
        }
        sync_directory_of(dest)?;
        Ok(true)
    }
}

/// Makes a rename in `path`'s directory survive a crash.
fn sync_directory_of(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    }
    // Elsewhere a directory cannot be opened to sync it; the rename stands.
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier};

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Contents that tell writers apart and are large enough that a torn
    /// write would show.
    fn version(writer: u8) -> Vec<u8> {
        vec![writer; 2 * 1024 * 1024 + usize::from(writer)]
    }

    #[test]
    fn a_file_is_written_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.m3u8");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(names_in(dir.path()), ["index.m3u8"]);
    }

    #[test]
    fn two_writers_of_one_file_at_once_leave_one_complete_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("poster.jpg");
        let writers = 8u8;
        let start = Arc::new(Barrier::new(usize::from(writers)));
        let threads: Vec<_> = (1..=writers)
            .map(|writer| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    write_atomically(&path, &version(writer))
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap().unwrap();
        }
        let result = std::fs::read(&path).unwrap();
        let writer = result[0];
        assert!((1..=writers).contains(&writer));
        assert_eq!(result, version(writer), "one writer's file, whole");
        assert_eq!(names_in(dir.path()), ["poster.jpg"], "no temporaries left");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.mp4");
        write_atomically(&path, b"the old replay").unwrap();

        let failed = write_with(&path, |file| {
            file.write_all(b"half of the new")?;
            Err(io::Error::other("disk full"))
        });

        assert_eq!(failed.unwrap_err().to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"the old replay");
        assert_eq!(names_in(dir.path()), ["replay.mp4"]);
    }

    #[test]
    fn a_rename_that_fails_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory cannot be replaced by a file.
        let occupied = dir.path().join("seg-1.m4s");
        std::fs::create_dir(&occupied).unwrap();
        std::fs::write(occupied.join("inside"), b"x").unwrap();

        assert!(write_atomically(&occupied, b"segment").is_err());

        assert_eq!(names_in(dir.path()), ["seg-1.m4s"]);
        assert_eq!(names_in(&occupied), ["inside"]);
    }

    #[test]
    fn readers_never_see_half_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.m3u8");
        write_atomically(&path, &version(1)).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(Ordering::Relaxed) || reads == 0 {
                    let seen = std::fs::read(&path).unwrap();
                    assert!(
                        seen == version(1) || seen == version(2),
                        "a read of {} bytes is neither version",
                        seen.len()
                    );
                    reads += 1;
                }
                reads
            })
        };
        for round in 0..40 {
            write_atomically(&path, &version(1 + round % 2)).unwrap();
        }
        done.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    }

    #[test]
    fn a_file_already_there_is_not_replaced_by_write_new() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photo.jpg");
        assert!(write_new(&path, b"first", Access::Shared).unwrap());
        assert!(!write_new(&path, b"second", Access::Shared).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(names_in(dir.path()), ["photo.jpg"]);
    }

    #[test]
    fn a_file_written_by_name_is_committed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.mp4");
        let pending = Pending::beside(&path).unwrap();
        let name = pending.path().file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(".replay.mp4.") && name.ends_with(".tmp"),
            "{name}"
        );
        // As libav does: open the path itself and write through that.
        std::fs::write(pending.path(), b"muxed").unwrap();
        pending.commit(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"muxed");
        assert_eq!(names_in(dir.path()), ["replay.mp4"]);

        drop(Pending::beside(&path).unwrap());
        assert_eq!(
            names_in(dir.path()),
            ["replay.mp4"],
            "an abandoned one is removed"
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_are_as_readable_as_file_create_makes_them() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let created = dir.path().join("created");
        File::create(&created).unwrap();
        let written = dir.path().join("written");
        write_atomically(&written, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&written), mode(&created));
        let private = dir.path().join("private");
        write_new(&private, b"x", Access::OwnerOnly).unwrap();
        assert_eq!(mode(&private), 0o600);
    }

    #[test]
    fn a_file_moved_into_place_arrives_whole_and_leaves_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        std::fs::write(&spool, version(3)).unwrap();
        let dest = dir.path().join("original");
        move_into_place(&spool, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), version(3));
        assert_eq!(names_in(dir.path()), ["original"]);
    }
}
