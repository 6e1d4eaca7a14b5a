//! The `pavilion` binary as an operator runs it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::test_database_url_blocking;

/// A folder to run the binary in, with a database of its own on the backend
/// under test (see `helpers::backend`).
struct Site {
    dir: tempfile::TempDir,
    database_url: String,
}

impl Site {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = test_database_url_blocking(dir.path());
        Self { dir, database_url }
    }

    fn pavilion(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pavilion"));
        command
            .current_dir(self.dir.path())
            .env("PAVILION__DATABASE__URL", &self.database_url)
            .env("PAVILION__SERVER__PORT", "0")
            .env("PAVILION__LIVE__RTMP_PORT", "0")
            // Several servers on one machine: each its own WebRTC port.
            .env("PAVILION__LIVE__WEBRTC_UDP_PORT", "0")
            .env("PAVILION__LIVE__WEBRTC_IPS", "127.0.0.1")
            .env("PAVILION__AUTH__ARGON2_MEMORY_KIB", "256")
            .env("PAVILION__AUTH__ARGON2_ITERATIONS", "1")
            .env("RUST_LOG", "info");
        command
    }
}

#[test]
fn first_start_prints_a_setup_link_and_sigterm_stops_gracefully() {
    let site = Site::new();
    let mut server = site
        .pavilion()
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(server.stdout.take().unwrap());
    let link = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.trim()
                .strip_prefix("http://127.0.0.1:8080/setup/")
                .map(str::to_owned)
        })
        .expect("a setup link is printed");
    assert!(link.len() >= 40, "the token is long and random: {link}");

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = server.try_wait().unwrap() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
}

#[test]
fn user_add_creates_an_account_and_refuses_duplicates_and_residents() {
    let site = Site::new();
    let mut add = site
        .pavilion()
        .args([
            "user",
            "add",
            "--username",
            "wang",
            "--display-name",
            "王书记",
            "--role",
            "secretary",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"a long secret\n")
        .unwrap();
    let output = add.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("created wang (secretary)"));

    let again = site
        .pavilion()
        .args([
            "user",
            "add",
            "--username",
            "WANG",
            "--display-name",
            "x",
            "--role",
            "staff",
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let resident = site
        .pavilion()
        .args([
            "user",
            "add",
            "--username",
            "li",
            "--display-name",
            "x",
            "--role",
            "resident",
        ])
        .output()
        .unwrap();
    assert!(!resident.status.success());

    let generated = site
        .pavilion()
        .args([
            "user",
            "add",
            "--username",
            "zhao",
            "--display-name",
            "赵",
            "--role",
            "admin",
        ])
        .output()
        .unwrap();
    assert!(generated.status.success());
    assert!(String::from_utf8_lossy(&generated.stdout).contains("password: "));
}

#[test]
fn demo_seeds_every_role_once() {
    let site = Site::new();
    for _ in 0..2 {
        let output = site
            .pavilion()
            .args(["demo", "--seed-only"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        for name in [
            "admin",
            "secretary",
            "moderator",
            "staff",
            "observer",
            "resident",
        ] {
            assert!(
                text.contains(name),
                "{name} missing from the printed accounts"
            );
        }
    }
    let output = site
        .pavilion()
        .args([
            "user",
            "add",
            "--username",
            "admin",
            "--display-name",
            "x",
            "--role",
            "admin",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success(), "the demo admin exists");
}

#[test]
fn a_database_that_cannot_be_reached_gets_a_clear_message() {
    let site = Site::new();
    // Nothing listens on port 1.
    let output = site
        .pavilion()
        .env(
            "PAVILION__DATABASE__URL",
            "postgres://pavilion@127.0.0.1:1/pavilion",
        )
        .env("PAVILION__DATABASE__BUSY_TIMEOUT_MS", "500")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot open the database postgres://pavilion@127.0.0.1:1/pavilion"),
        "{stderr}"
    );

    let output = site
        .pavilion()
        .env("PAVILION__DATABASE__URL", "mysql://localhost/pavilion")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("expected sqlite: or postgres:"), "{stderr}");
}

#[test]
fn the_demo_has_records_and_an_observer_with_an_estate() {
    let site = Site::new();
    let output = site
        .pavilion()
        .args(["demo", "--seed-only"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = pavilion::store::connect(&site.database_url).await.unwrap();
        let records = store
            .list_records(&pavilion::store::RecordFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(records.len(), 2);
        let observer = store
            .credentials(&pavilion::domain::Username::parse("observer").unwrap())
            .await
            .unwrap()
            .unwrap()
            .0;
        assert!(observer.estate_id.is_some());
    });
}
