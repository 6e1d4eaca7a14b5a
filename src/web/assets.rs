//! Static files embedded in the binary, served under content-hashed names
//! (`/static/app.3f2a1b4c.css`) with a year-long, immutable cache lifetime.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
#[include = "css/*"]
#[include = "icons/*"]
#[include = "js/*"]
struct Assets;

/// Front-end packages installed by npm (`npm ci`), served as `vendor/…`.
#[derive(RustEmbed)]
#[folder = "node_modules/"]
#[include = "hls.js/dist/hls.min.js"]
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
const VENDOR_FILES: &[(&str, &str)] = &[("hls.min.js", "hls.js/dist/hls.min.js")];

fn all_names() -> impl Iterator<Item = String> {
    Assets::iter().map(|n| n.to_string()).chain(
        VENDOR_FILES
            .iter()
            .map(|(public, _)| format!("vendor/{public}")),
    )
}

/// original name → hashed name, and back.
struct Names {
    hashed: HashMap<String, String>,
    original: HashMap<String, String>,
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names = Names {
            hashed: HashMap::new(),
            original: HashMap::new(),
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
            names.hashed.insert(name.to_string(), hashed);
        }
        names
    })
}

/// The URL of an embedded asset, e.g. `asset_url("css/app.css")`.
pub fn asset_url(name: &str) -> String {
    match names().hashed.get(name) {
        Some(hashed) => format!("/static/{hashed}"),
        None => panic!("no embedded asset named {name}"),
    }
}

pub async fn serve(path: web::Path<String>) -> HttpResponse {
    let requested = path.into_inner();
    // An old page may ask for a name whose hash has changed: serve the current
    // file, but do not let it be cached as if it were the old one.
    let (name, immutable) = match names().original.get(&requested) {
        Some(name) => (name.clone(), true),
        None => (requested, false),
    };
    let Some(file) = embedded(&name) else {
        return HttpResponse::NotFound().finish();
    };
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            mime_guess::from_path(&name)
                .first_or_octet_stream()
                .to_string(),
        ))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(file.data.into_owned())
}

#[cfg(test)]
mod tests {
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
}
