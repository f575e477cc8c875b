//! Files on disk: written whole or not at all (a crash or a full disk never leaves half a
//! file where a reader looks), and paths that are not regular files refused before a read.

/// Write a file so that readers see the old contents or the new, never a part: write a
/// sibling temporary file, flush it to disk, then rename it over the target. On failure (a full
/// disk, a folder in the way) the temporary file is removed and the target left as it was.
pub fn atomic_write(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Refuses a path that is not a regular file (a folder, a named pipe, a device): reading a
/// named pipe would wait for a writer forever.
pub fn check_regular_file(path: &std::path::Path) -> std::io::Result<()> {
    if std::fs::metadata(path)?.is_file() {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_failed_atomic_write_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("ssdface-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // A non-empty folder where the file should go: the rename fails.
        let target = dir.join("result.json");
        std::fs::create_dir_all(target.join("inside")).unwrap();
        assert!(super::atomic_write(&target, b"{}").is_err());
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["result.json"], "only the folder that was there");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
