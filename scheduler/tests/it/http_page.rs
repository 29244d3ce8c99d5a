//! The status page as a person sees it: rendered by real headless Chromium from the running
//! server, it shows the plan's progress, the nodes and the failures with their messages, and
//! text from the view never becomes markup.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http_support::{Options, Server, artifacts, complete_view, deploying_view};
use crate::support::command;

/// Run headless Chromium with `args` and the URL; return stdout. Bounded: killed after 90 s.
fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let mut cmd = command("chromium", profile);
    cmd.env("HOME", profile)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.join("profile").display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chromium (Debian package `chromium`)");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let stderr = child.stderr.take().unwrap();
    let err_reader =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = reader.join().unwrap();
    let err = err_reader.join().unwrap();
    assert!(status.success(), "chromium failed: {status}\n{err}");
    out
}

/// The visible text of a DOM dump: tags removed, entities decoded, whitespace collapsed.
fn visible_text(dom: &str) -> String {
    let body = dom.split_once("<body").map_or(dom, |(_, b)| b);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_progress_nodes_and_failures_and_runs_no_injected_markup() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("bundles")).unwrap();
    std::fs::write(tmp.path().join("bundles/scaleio-rhel-7-2.0.1.tar.gz"), b"x").unwrap();
    std::fs::write(tmp.path().join("exe"), b"x").unwrap();
    let mut view = deploying_view();
    // A hostile message: if it became markup, Chromium would build an element from it.
    view.plan.phases[1].steps[1].message =
        Some("E: Unable to locate package <b id=\"injected\">libaio1</b> & friends".to_owned());
    let server = Server::start(
        view,
        Options {
            artifacts: artifacts(tmp.path().join("bundles"), tmp.path().join("exe")),
            ..Options::default()
        },
    )
    .await;
    let url = server.url("/");
    let profile = tmp.path().to_path_buf();

    let dom = {
        let (profile, url) = (profile.clone(), url.clone());
        tokio::task::spawn_blocking(move || chromium(&profile, &["--dump-dom"], &url))
            .await
            .unwrap()
    };
    assert!(!dom.contains("<b id=\"injected\">"), "view text became markup:\n{dom}");
    let text = visible_text(&dom);
    for expected in [
        "Needs attention",
        "4 of 7 steps complete (57%)",
        "1 pending, 1 running, 1 error",
        "prerequisites-agent-2",
        "E: Unable to locate package <b id=\"injected\">libaio1</b> & friends",
        "POST /v1/steps/<id>/retry",
        "Nodes (3)",
        "agent-1 10.0.0.11 primary ubuntu-14.04 deploying 2/3",
        "agent-2 10.0.0.12 secondary ubuntu-14.04 failed 1/2",
        "agent-3 10.0.0.13 not chosen yet",
        "preflight complete parallel",
        "mdm-cluster pending serial",
        "2026-12-02T15:04:05Z 12.5s",
        "framework 4f5e-framework-0001",
        "subscribed to http://10.0.0.1:5050",
        "scaleio-rhel-7-2.0.1.tar.gz",
        "scheduler 9.8.7-test",
    ] {
        assert!(text.contains(expected), "page lacks {expected:?}:\n{text}");
    }
    assert!(dom.contains("http-equiv=\"refresh\""), "the page refreshes itself");

    // Once complete: healthy, no attention box, capacity shown.
    server.view.send_replace(Arc::new(complete_view()));
    let dom = {
        let (profile, url) = (profile.clone(), url.clone());
        tokio::task::spawn_blocking(move || chromium(&profile, &["--dump-dom"], &url))
            .await
            .unwrap()
    };
    let text = visible_text(&dom);
    assert!(text.contains("ScaleIO framework Healthy"), "{text}");
    assert!(text.contains("7 of 7 steps complete (100%)"), "{text}");
    assert!(!text.contains("Needs attention"), "{text}");
    assert!(text.contains("100.0 GiB usable, 8.0 GiB in use, 40.0 GiB free for volumes"), "{text}");

    // A screenshot for a person to look at when changing the page (not checked in).
    if let Some(path) = std::env::var_os("SCALEIO_STATUS_PAGE_SCREENSHOT") {
        server.view.send_replace(Arc::new(deploying_view()));
        let arg = format!("--screenshot={}", Path::new(&path).display());
        let (profile, url) = (profile.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            chromium(&profile, &[&arg, "--window-size=1280,1100", "--hide-scrollbars"], &url)
        })
        .await
        .unwrap();
    }
    server.stop().await.unwrap();
}
