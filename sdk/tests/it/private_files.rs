//! Token files (and the installation records and CLI files written the same way) are replaced
//! atomically, privately, and without sharing a temporary file between writers.

use bitrix24::{FileTokenStore, TokenStore, Tokens};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("b24-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_in_one_process_never_share_a_temporary_file() {
    let dir = scratch("concurrent-writers");
    let path = dir.join("tokens.json");
    // Long values, so that writes take long enough to overlap.
    let pairs: Vec<Tokens> = (0..64)
        .map(|i| Tokens::new(format!("{i:04}").repeat(4096), format!("r{i}")))
        .collect();
    let mut writers = Vec::new();
    for tokens in pairs.clone() {
        let store = FileTokenStore::new(&path);
        writers.push(tokio::spawn(async move { store.save(&tokens).await }));
    }
    for writer in writers {
        writer.await.unwrap().expect("every save succeeds");
    }
    let stored = FileTokenStore::new(&path).load().await.unwrap().unwrap();
    assert!(pairs.contains(&stored), "the file holds one whole pair");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["tokens.json"], "no temporary file is left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn a_link_planted_at_a_temporary_name_is_not_written_through() {
    let dir = scratch("planted-link");
    let path = dir.join("tokens.json");
    let victim = dir.join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    // Where a writer naming its temporary file after the process id alone would write.
    let predictable = dir.join(format!(".tokens.json.{}.tmp", std::process::id()));
    std::os::unix::fs::symlink(&victim, &predictable).unwrap();
    FileTokenStore::new(&path)
        .save(&Tokens::new("a", "r"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(
        FileTokenStore::new(&path).load().await.unwrap(),
        Some(Tokens::new("a", "r"))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
