//! Static assets and the kiosk's own files: compressed once and sent in the
//! coding the client accepts, and revalidated with a 304 instead of the file.

use std::io::Read;

use crate::helpers::{client, spawn_app, TestApp};

/// What came back, undecoded (the test client decodes nothing itself).
struct Answer {
    status: u16,
    etag: Option<String>,
    encoding: Option<String>,
    vary: Option<String>,
    cache: Option<String>,
    body: Vec<u8>,
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = client().get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status().as_u16(),
        etag: header("etag"),
        encoding: header("content-encoding"),
        vary: header("vary"),
        cache: header("cache-control"),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

fn decode(answer: &Answer) -> Vec<u8> {
    let mut out = Vec::new();
    match answer.encoding.as_deref() {
        Some("br") => {
            brotli::Decompressor::new(&answer.body[..], 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some("gzip") => {
            flate2::read::GzDecoder::new(&answer.body[..])
                .read_to_end(&mut out)
                .unwrap();
        }
        None | Some("identity") => out.clone_from(&answer.body),
        Some(other) => panic!("unexpected coding {other}"),
    }
    out
}

#[tokio::test]
async fn hls_js_is_the_light_build_compressed_once_in_each_coding() {
    let app = spawn_app().await;
    let url = pavilion::web::assets::asset_url("vendor/hls.light.min.js");
    let original = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("node_modules/hls.js/dist/hls.light.min.js"),
    )
    .unwrap();

    let plain = get(&app, &url, &[]).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.encoding.as_deref(), Some("identity"));
    assert_eq!(plain.body, original);
    assert_eq!(
        plain.cache.as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(plain.vary.as_deref(), Some("Accept-Encoding"));

    // What browsers send: brotli, ready-made, and much smaller.
    let br = get(
        &app,
        &url,
        &[("accept-encoding", "gzip, deflate, br, zstd")],
    )
    .await;
    assert_eq!(br.status, 200);
    assert_eq!(br.encoding.as_deref(), Some("br"));
    assert_eq!(br.vary.as_deref(), Some("Accept-Encoding"));
    assert!(br.body.len() < original.len() / 3, "{}", br.body.len());
    assert_eq!(decode(&br), original);
    // Sent again: the very same bytes (compressed once, not per request).
    let again = get(&app, &url, &[("accept-encoding", "br")]).await;
    assert_eq!(again.body, br.body);

    let gzip = get(&app, &url, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gzip.encoding.as_deref(), Some("gzip"));
    assert_eq!(decode(&gzip), original);

    // Each coding is its own representation, with its own strong tag.
    let tags = [&plain.etag, &br.etag, &gzip.etag].map(|t| t.clone().expect("an ETag"));
    assert!(tags
        .iter()
        .all(|t| t.starts_with('"') && !t.starts_with("W/")));
    assert!(tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2]);

    // The full build is not served any more.
    let full = get(&app, "/static/vendor/hls.min.js", &[]).await;
    assert_eq!(full.status, 404);
}

#[tokio::test]
async fn our_own_assets_are_compressed_too() {
    let app = spawn_app().await;
    let original =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/css/app.css"))
            .unwrap();
    let url = pavilion::web::assets::asset_url("css/app.css");
    let br = get(&app, &url, &[("accept-encoding", "br")]).await;
    assert_eq!(br.encoding.as_deref(), Some("br"));
    assert_eq!(decode(&br), original);
    let tag = br.etag.clone().unwrap();
    let revalidated = get(&app, &url, &[("if-none-match", &tag)]).await;
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());
}

#[tokio::test]
async fn kiosk_files_answer_a_revalidation_with_304() {
    let app = spawn_app().await;
    for (path, file) in [
        ("/kiosk/kiosk.js", Some("kiosk/kiosk.js")),
        ("/kiosk/kiosk.css", Some("kiosk/kiosk.css")),
        ("/kiosk/sw.js", Some("kiosk/sw.js")),
        ("/kiosk/", None),
    ] {
        let first = get(&app, path, &[]).await;
        assert_eq!(first.status, 200, "{path}");
        assert_eq!(first.cache.as_deref(), Some("no-cache"), "{path}");
        if let Some(file) = file {
            let original =
                std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
            assert_eq!(first.body, original, "{path}");
        }
        let tag = first.etag.clone().expect("an ETag");

        // The screen's copy is current: 304, no body.
        let unchanged = get(&app, path, &[("if-none-match", &tag)]).await;
        assert_eq!(unchanged.status, 304, "{path}");
        assert!(unchanged.body.is_empty(), "{path}");
        assert_eq!(unchanged.etag.as_deref(), Some(tag.as_str()), "{path}");

        // A tag of another version (or of another file) gets the file.
        let stale = get(&app, path, &[("if-none-match", "\"0123456789abcdef0123\"")]).await;
        assert_eq!(stale.status, 200, "{path}");
        assert_eq!(stale.body, first.body, "{path}");
        let other = get(&app, "/kiosk/kiosk.css", &[]).await.etag.unwrap();
        if path != "/kiosk/kiosk.css" {
            let wrong = get(&app, path, &[("if-none-match", &other)]).await;
            assert_eq!(wrong.status, 200, "{path}");
        }

        // Compressed for a browser, with the tag of that variant; its
        // revalidation is a 304 too.
        let headers = [("accept-encoding", "gzip, deflate, br, zstd")];
        let br = get(&app, path, &headers).await;
        assert_eq!(br.status, 200, "{path}");
        assert_eq!(br.encoding.as_deref(), Some("br"), "{path}");
        assert_eq!(decode(&br), first.body, "{path}");
        let br_tag = br.etag.clone().unwrap();
        assert_ne!(br_tag, tag, "{path}");
        let unchanged = get(
            &app,
            path,
            &[
                ("accept-encoding", "gzip, deflate, br, zstd"),
                ("if-none-match", &br_tag),
            ],
        )
        .await;
        assert_eq!(unchanged.status, 304, "{path}");
        assert!(unchanged.body.is_empty(), "{path}");
    }
    // index.html is only the page at /kiosk/.
    assert_eq!(get(&app, "/kiosk/index.html", &[]).await.status, 404);
    assert_eq!(get(&app, "/kiosk/nothing.js", &[]).await.status, 404);
}
