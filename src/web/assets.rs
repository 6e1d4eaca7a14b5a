//! Static files embedded in the binary, served under content-hashed names
//! (`/static/app.3f2a1b4c.css`) with a year-long, immutable cache lifetime.
//!
//! Each file is compressed once (gzip and brotli, at their best settings), the
//! first time it is needed, and kept in memory: a request picks the variant its
//! `Accept-Encoding` allows, and the `Compress` middleware leaves it alone
//! (it skips responses that carry `Content-Encoding`). [`Prepared`] does the
//! same for the kiosk's own files.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

#[derive(RustEmbed)]
#[folder = "assets/"]
#[include = "css/*"]
#[include = "icons/*"]
#[include = "js/*"]
struct Assets;

/// Front-end packages installed by npm (`npm ci`), served as `vendor/…`.
/// hls.js is its light build: the player needs no subtitles, DRM, CMCD or
/// alternate audio, and it is 235 KB smaller.
#[derive(RustEmbed)]
#[folder = "node_modules/"]
#[include = "hls.js/dist/hls.light.min.js"]
struct Vendor;

/// An embedded file by its public name: our own assets, or `vendor/<file>`.
fn embedded(name: &str) -> Option<rust_embed::EmbeddedFile> {
    match name.strip_prefix("vendor/") {
        Some(file) => VENDOR_FILES
            .iter()
            .find(|(public, _)| *public == file)
            .and_then(|(_, path)| Vendor::get(path)),
        None => Assets::get(name),
    }
}

/// Public name → path under node_modules.
const VENDOR_FILES: &[(&str, &str)] = &[("hls.light.min.js", "hls.js/dist/hls.light.min.js")];

fn all_names() -> impl Iterator<Item = String> {
    Assets::iter().map(|n| n.to_string()).chain(
        VENDOR_FILES
            .iter()
            .map(|(public, _)| format!("vendor/{public}")),
    )
}

/// original name → hashed name, and back; and each file's prepared answers.
struct Names {
    hashed: HashMap<String, String>,
    original: HashMap<String, String>,
    prepared: HashMap<String, OnceLock<Prepared>>,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    let mut first = false;
    let names = NAMES.get_or_init(|| {
        first = true;
        let mut names = Names {
            hashed: HashMap::new(),
            original: HashMap::new(),
            prepared: HashMap::new(),
        };
        for name in all_names() {
            let Some(file) = embedded(&name) else {
                panic!("{name} is missing: run `npm ci` (./dev does) before building");
            };
            let hash = hex::encode(&file.metadata.sha256_hash()[..6]);
            let hashed = match name.rsplit_once('.') {
                Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
                None => format!("{name}.{hash}"),
            };
            names.original.insert(hashed.clone(), name.to_string());
            names.prepared.insert(name.to_string(), OnceLock::new());
            names.hashed.insert(name.to_string(), hashed);
        }
        names
    });
    if first {
        // The first page names its assets: compress them all now, beside the
        // server, so the browser that asks for them next does not wait.
        let _ = std::thread::Builder::new()
            .name("compress-assets".into())
            .spawn(|| {
                for name in NAMES.get().map(|n| n.prepared.keys()).into_iter().flatten() {
                    prepared(name);
                }
            });
    }
    names
}

/// The asset's answers, compressing it on first use (blocks for that).
fn prepared(name: &str) -> Option<&'static Prepared> {
    let slot = names().prepared.get(name)?;
    Some(slot.get_or_init(|| {
        let file = embedded(name).expect("every named asset is embedded");
        let content_type = mime_guess::from_path(name)
            .first_or_octet_stream()
            .to_string();
        Prepared::new(&content_type, Bytes::from(file.data.into_owned()))
    }))
}

/// The URL of an embedded asset, e.g. `asset_url("css/app.css")`.
pub fn asset_url(name: &str) -> String {
    match names().hashed.get(name) {
        Some(hashed) => format!("/static/{hashed}"),
        None => panic!("no embedded asset named {name}"),
    }
}

pub async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let requested = path.into_inner();
    // An old page may ask for a name whose hash has changed: serve the current
    // file, but do not let it be cached as if it were the old one.
    let (name, immutable) = match names().original.get(&requested) {
        Some(name) => (name.clone(), true),
        None => (requested, false),
    };
    if !names().prepared.contains_key(&name) {
        return HttpResponse::NotFound().finish();
    }
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    // Compressed already (the usual case), or compressed now, off the runtime.
    let ready = match names().prepared.get(&name).and_then(OnceLock::get) {
        Some(prepared) => prepared,
        None => match web::block(move || prepared(&name)).await {
            Ok(Some(prepared)) => prepared,
            _ => return HttpResponse::InternalServerError().finish(),
        },
    };
    ready.respond(&req, cache)
}

// ------------------------------------------------------------ compressed once

/// A file's bytes as sent, compressed once: identity, gzip and brotli (a
/// variant is left out when it would not be smaller), with a strong ETag per
/// variant taken from the content's hash.
pub(crate) struct Prepared {
    content_type: HeaderValue,
    /// The content's hash: `"<hash>"`, `"<hash>-br"`, `"<hash>-gz"`.
    hash: String,
    identity: Bytes,
    gzip: Option<Bytes>,
    brotli: Option<Bytes>,
}

/// A content coding this server sends ready-made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Prepared {
    /// Compresses `data` (slow at these settings: tens of milliseconds for a
    /// 400 KB script, more in a debug build; call it off the async runtime).
    pub(crate) fn new(content_type: &str, data: Bytes) -> Self {
        let hash = hex::encode(&Sha256::digest(&data)[..10]);
        let smaller = |compressed: Vec<u8>| {
            // Not worth a header and a decode unless it saves a twentieth.
            (compressed.len() * 20 < data.len() * 19).then(|| Bytes::from(compressed))
        };
        let gzip = smaller(gzip(&data));
        let brotli = smaller(brotli(&data));
        Prepared {
            content_type: HeaderValue::from_str(content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            hash,
            identity: data,
            gzip,
            brotli,
        }
    }

    /// The variant `accept_encoding` prefers among those there are.
    pub(crate) fn coding(&self, accept_encoding: Option<&str>) -> Coding {
        let accepted = Accepted::parse(accept_encoding.unwrap_or(""));
        let brotli = if self.brotli.is_some() {
            accepted.brotli
        } else {
            0.0
        };
        let gzip = if self.gzip.is_some() {
            accepted.gzip
        } else {
            0.0
        };
        if brotli > 0.0 && brotli >= gzip {
            Coding::Brotli
        } else if gzip > 0.0 {
            Coding::Gzip
        } else {
            Coding::Identity
        }
    }

    /// The bytes sent for `coding`.
    pub(crate) fn body(&self, coding: Coding) -> &Bytes {
        match coding {
            Coding::Brotli => self.brotli.as_ref().unwrap_or(&self.identity),
            Coding::Gzip => self.gzip.as_ref().unwrap_or(&self.identity),
            Coding::Identity => &self.identity,
        }
    }

    /// The strong ETag of one variant: each coding is its own representation.
    pub(crate) fn etag(&self, coding: Coding) -> String {
        match coding {
            Coding::Brotli => format!("\"{}-br\"", self.hash),
            Coding::Gzip => format!("\"{}-gz\"", self.hash),
            Coding::Identity => format!("\"{}\"", self.hash),
        }
    }

    /// Whether `If-None-Match` names this content, in any of its codings: the
    /// client's copy, once decoded, is these very bytes.
    fn unchanged(&self, if_none_match: Option<&str>) -> bool {
        let Some(tags) = if_none_match else {
            return false;
        };
        tags.split(',').any(|tag| {
            let tag = tag.trim();
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*"
                || tag
                    .strip_prefix('"')
                    .and_then(|t| t.strip_suffix('"'))
                    .and_then(|t| t.strip_prefix(self.hash.as_str()))
                    .is_some_and(|rest| matches!(rest, "" | "-br" | "-gz"))
        })
    }

    /// 304 when `If-None-Match` names this content, else the variant the
    /// request accepts, with `Vary: Accept-Encoding`.
    pub(crate) fn respond(&self, req: &HttpRequest, cache_control: &'static str) -> HttpResponse {
        let text = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        let coding = self.coding(text(header::ACCEPT_ENCODING));
        let unchanged = self.unchanged(text(header::IF_NONE_MATCH));
        let mut response = if unchanged {
            HttpResponse::NotModified()
        } else {
            HttpResponse::Ok()
        };
        response
            .insert_header((header::CACHE_CONTROL, cache_control))
            .insert_header((header::ETAG, self.etag(coding)))
            .insert_header((header::VARY, "Accept-Encoding"));
        if unchanged {
            return response.finish();
        }
        let encoding = match coding {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
            // Sent as is, and kept away from the compression middleware.
            Coding::Identity => "identity",
        };
        response
            .insert_header((header::CONTENT_TYPE, self.content_type.clone()))
            .insert_header((header::CONTENT_ENCODING, encoding))
            .body(self.body(coding).clone())
    }
}

/// The q-values an `Accept-Encoding` header gives brotli and gzip (`*`
/// counts for a coding it does not name; a coding not named is refused).
struct Accepted {
    brotli: f32,
    gzip: f32,
}

impl Accepted {
    fn parse(header: &str) -> Self {
        let (mut brotli, mut gzip, mut any) = (None, None, None);
        for item in header.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if name.eq_ignore_ascii_case("br") {
                brotli = Some(q);
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(q);
            } else if name == "*" {
                any = Some(q);
            }
        }
        Accepted {
            brotli: brotli.or(any).unwrap_or(0.0),
            gzip: gzip.or(any).unwrap_or(0.0),
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 3),
        flate2::Compression::best(),
    );
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .expect("compressing into memory cannot fail")
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        size_hint: data.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(data.len() / 3);
    brotli::BrotliCompress(&mut &data[..], &mut out, &params)
        .expect("compressing into memory cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn urls_carry_the_content_hash() {
        let url = asset_url("css/app.css");
        assert!(
            url.starts_with("/static/css/app.") && url.ends_with(".css"),
            "{url}"
        );
        assert_eq!(url.len(), "/static/css/app..css".len() + 12);
    }

    #[test]
    fn the_light_hls_js_is_served() {
        assert!(asset_url("vendor/hls.light.min.js").starts_with("/static/vendor/hls.light."));
    }

    #[test]
    fn accept_encoding_picks_the_variant() {
        let text = "body { color: red; }\n".repeat(100);
        let file = Prepared::new("text/css", Bytes::from(text.clone()));
        let pick = |header| file.coding(header);
        assert_eq!(pick(None), Coding::Identity);
        assert_eq!(pick(Some("")), Coding::Identity);
        assert_eq!(pick(Some("gzip, deflate, br, zstd")), Coding::Brotli);
        assert_eq!(pick(Some("gzip")), Coding::Gzip);
        assert_eq!(pick(Some("gzip;q=1, br;q=0.5")), Coding::Gzip);
        assert_eq!(pick(Some("br;q=0, gzip;q=0.1")), Coding::Gzip);
        assert_eq!(pick(Some("br;q=0")), Coding::Identity);
        assert_eq!(pick(Some("*")), Coding::Brotli);
        assert_eq!(pick(Some("*, br;q=0")), Coding::Gzip);
        assert_eq!(pick(Some("deflate, zstd")), Coding::Identity);

        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&file.body(Coding::Gzip)[..])
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(decoded, text);
        let mut decoded = String::new();
        brotli::Decompressor::new(&file.body(Coding::Brotli)[..], 4096)
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(decoded, text);
        assert!(file.body(Coding::Brotli).len() < text.len() / 10);
    }

    #[test]
    fn etags_differ_by_coding_and_any_names_the_content() {
        let file = Prepared::new("text/css", Bytes::from("a { b: c }\n".repeat(50)));
        let (plain, br) = (file.etag(Coding::Identity), file.etag(Coding::Brotli));
        assert_ne!(plain, br);
        assert!(file.unchanged(Some(&plain)));
        assert!(file.unchanged(Some(&format!("\"x\", W/{br}"))));
        assert!(file.unchanged(Some("*")));
        assert!(!file.unchanged(None));
        assert!(!file.unchanged(Some("\"x\"")));
        assert!(!file.unchanged(Some(&plain.replace('"', ""))));
        assert!(!file.unchanged(Some(&format!("{}-zz\"", &plain[..plain.len() - 1]))));
    }

    #[test]
    fn incompressible_files_are_sent_as_they_are() {
        let noise: Vec<u8> = (0..128u32)
            .flat_map(|i| Sha256::digest(i.to_le_bytes()))
            .collect();
        let file = Prepared::new("image/png", Bytes::from(noise));
        assert_eq!(file.coding(Some("br, gzip")), Coding::Identity);
    }
}
