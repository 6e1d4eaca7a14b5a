//! Photos on feedback records through the real multipart forms: the
//! resident's report form and the staff's action form. Photos are stored
//! without their metadata, shown as thumbnails beside their event, and
//! served only to those who may see them.

use pavilion::domain::record::Record;
use pavilion::domain::*;
use pavilion::store::{RecordFilter, RecordPhoto};
use reqwest::multipart::{Form, Part};
use scraper::{Html, Selector};

use crate::helpers::*;

/// A file as a browser sends it: name, claimed type and content.
type Upload = (&'static str, &'static str, Vec<u8>);

const TITLE: &str = "楼道灯坏了好几天";
const DESCRIPTION: &str = "3号楼2单元三楼的楼道灯不亮，\n晚上上楼很危险。";

/// A photo-like JPEG (a gradient, so that it does not compress to nothing).
pub(crate) fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 90])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut bytes, image::ImageFormat::Jpeg)
        .unwrap();
    bytes.into_inner()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::GrayImage::from_fn(width, height, |x, _| image::Luma([(x % 256) as u8]))
        .write_to(&mut bytes, image::ImageFormat::Png)
        .unwrap();
    bytes.into_inner()
}

/// The GPS position (39°54'43.21"N) as the EXIF rationals a phone writes.
fn gps_latitude() -> Vec<u8> {
    [(39u32, 1u32), (54, 1), (4321, 100)]
        .iter()
        .flat_map(|(n, d)| [n.to_be_bytes(), d.to_be_bytes()].concat())
        .collect()
}

/// `jpeg` with an EXIF block after its start-of-image marker whose GPS
/// directory holds a latitude, as a phone photo of a home would.
fn with_gps(jpeg: &[u8]) -> Vec<u8> {
    // Big-endian TIFF: IFD0 at 8 with one entry (GPSInfo → 26), the GPS IFD
    // at 26 with GPSLatitudeRef "N" and GPSLatitude (3 rationals at 56).
    let mut tiff = b"MM\0\x2A\0\0\0\x08".to_vec();
    tiff.extend([0, 1, 0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0]);
    tiff.extend([0, 2]);
    tiff.extend([0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    tiff.extend([0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 56]);
    tiff.extend([0, 0, 0, 0]);
    assert_eq!(tiff.len(), 56);
    tiff.extend(gps_latitude());
    // The APP1 segment: marker, length (counting itself), "Exif\0\0", TIFF.
    let mut photo = jpeg[..2].to_vec();
    photo.extend([0xFF, 0xE1]);
    photo.extend(((2 + 6 + tiff.len()) as u16).to_be_bytes());
    photo.extend(b"Exif\0\0");
    photo.extend(tiff);
    photo.extend(&jpeg[2..]);
    photo
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Sends a multipart form as the page does: the form token first, then the
/// fields, then one `photos` part per file.
async fn send_multipart(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
    photos: Vec<Upload>,
) -> reqwest::Response {
    let mut form = Form::new().text("csrf_token", app.form_token(client).await);
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    for (name, content_type, bytes) in photos {
        let part = Part::bytes(bytes)
            .file_name(name)
            .mime_str(content_type)
            .unwrap();
        form = form.part("photos", part);
    }
    client
        .post(app.url(path))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn report(app: &TestApp, client: &reqwest::Client, photos: Vec<Upload>) -> reqwest::Response {
    let fields = [
        ("category", "repairs"),
        ("title", TITLE),
        ("description", DESCRIPTION),
        ("location", "2单元三楼"),
    ];
    send_multipart(app, client, "/report", &fields, photos).await
}

/// Files a report with `photos`; returns the record and its tracking link.
async fn file_with(
    app: &TestApp,
    client: &reqwest::Client,
    photos: Vec<Upload>,
) -> (Record, String) {
    let response = report(app, client, photos).await;
    assert_eq!(response.status(), 303, "the report is filed");
    let link = location(&response);
    let token = link
        .trim_start_matches("/track/")
        .split('?')
        .next()
        .unwrap();
    let record = app
        .state
        .records
        .by_tracking_token(token)
        .await
        .expect("the link opens the record");
    (record, format!("/track/{token}"))
}

/// The thumbnails of a page: (full picture, thumbnail) paths.
fn thumbnails(page: &str) -> Vec<(String, String)> {
    let html = Html::parse_document(page);
    let selector = Selector::parse(".record-photos a").unwrap();
    let image = Selector::parse("img").unwrap();
    html.select(&selector)
        .map(|link| {
            let full = link.value().attr("href").unwrap().to_owned();
            let thumb = link.select(&image).next().unwrap().value().attr("src");
            (full, thumb.unwrap().to_owned())
        })
        .collect()
}

async fn photos_of(app: &TestApp, record: &Record) -> Vec<RecordPhoto> {
    app.state.store.record_photos(record.id).await.unwrap()
}

/// The photo files on disk, full pictures and thumbnails.
fn stored_files(app: &TestApp) -> Vec<String> {
    let dir = app.data_dir.join("media").join("records");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// GETs a photo and checks the headers every photo answer carries.
async fn fetch_photo(app: &TestApp, client: &reqwest::Client, path: &str) -> Option<Vec<u8>> {
    let response = client.get(app.url(path)).send().await.unwrap();
    if response.status() == 404 {
        return None;
    }
    assert_eq!(response.status(), 200, "{path}");
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert!(header("content-type").starts_with("image/"), "{path}");
    assert!(header("cache-control").starts_with("private"), "{path}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    Some(response.bytes().await.unwrap().to_vec())
}

async fn resident_of(app: &TestApp) -> (Place, reqwest::Client) {
    let place = app.seed_place().await;
    app.create_account(Role::Resident, Some(&place)).await;
    let resident = app.login("resident").await;
    (place, resident)
}

#[tokio::test]
async fn a_resident_files_two_photos_and_sees_them_on_their_page_and_the_tracking_page() {
    let app = spawn_app().await;
    let (_, resident) = resident_of(&app).await;
    let form = app.text(&resident, "/report").await;
    assert!(form.contains(r#"enctype="multipart/form-data""#));
    assert!(form.contains(r#"name="photos""#) && form.contains("multiple"));
    let phone_photo = with_gps(&jpeg(2400, 1800));
    assert!(contains(&phone_photo, &gps_latitude()));

    let (record, link) = file_with(
        &app,
        &resident,
        vec![
            ("IMG_2041.jpg", "image/jpeg", phone_photo),
            ("楼道.png", "image/png", png(300, 200)),
        ],
    )
    .await;

    let stored = photos_of(&app, &record).await;
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|p| p.seq == 1 && p.public));
    assert_eq!((stored[0].width, stored[0].height), (1920, 1440));
    assert_eq!(stored[0].mime, "image/jpeg");

    // The tracking link shows both to the reporter; in anyone else's hands
    // it shows the public view, which has no photos (issue 14).
    let page = app.text(&resident, &link).await;
    assert!(page.contains(TITLE));
    let shown = thumbnails(&page);
    assert_eq!(shown.len(), 2);
    assert!(shown[0].0.starts_with(&format!("{link}/photos/")));
    let stranger_with_link = client();
    assert!(thumbnails(&app.text(&stranger_with_link, &link).await).is_empty());
    for path in [&shown[0].0, &shown[0].1] {
        assert!(fetch_photo(&app, &stranger_with_link, path).await.is_none());
    }
    let full = fetch_photo(&app, &resident, &shown[0].0)
        .await
        .expect("the full picture");
    let thumb = fetch_photo(&app, &resident, &shown[0].1)
        .await
        .expect("the thumbnail");
    let full_image = image::load_from_memory(&full).unwrap();
    assert_eq!((full_image.width(), full_image.height()), (1920, 1440));
    let thumb_image = image::load_from_memory(&thumb).unwrap();
    assert_eq!((thumb_image.width(), thumb_image.height()), (480, 360));

    // No EXIF, no GPS position: not served, not on disk.
    for bytes in [&full, &thumb] {
        assert!(!contains(bytes, b"Exif"));
        assert!(!contains(bytes, &gps_latitude()));
    }
    let files = stored_files(&app);
    assert_eq!(files.len(), 4, "two pictures and two thumbnails: {files:?}");
    for name in files {
        let bytes = std::fs::read(app.data_dir.join("media/records").join(&name)).unwrap();
        assert!(!contains(&bytes, &gps_latitude()), "{name}");
    }

    // The resident's own page shows them too, served by record id.
    let page = app
        .text(&resident, &format!("/me/records/{}", record.id))
        .await;
    let shown = thumbnails(&page);
    assert_eq!(shown.len(), 2);
    assert!(shown[1]
        .0
        .starts_with(&format!("/records/{}/photos/", record.id)));
    let png_full = fetch_photo(&app, &resident, &shown[1].0).await.unwrap();
    assert_eq!(
        image::load_from_memory(&png_full).unwrap().width(),
        300,
        "small pictures are not scaled up"
    );
    fetch_photo(&app, &resident, &shown[1].1).await.unwrap();
}

#[tokio::test]
async fn refused_photos_keep_the_form_and_store_nothing() {
    let app = spawn_app().await;
    let (_, resident) = resident_of(&app).await;
    let seven = (0..7)
        .map(|_| ("photo.jpg", "image/jpeg", jpeg(64, 48)))
        .collect();
    let mut oversized = jpeg(64, 48);
    oversized.resize(10 * 1024 * 1024 + 1, 0);
    let cases: Vec<(&str, Vec<Upload>, &str)> = vec![
        ("seven photos", seven, "最多只能上传 6 张照片"),
        (
            "a text file named .jpg",
            vec![(
                "notes.jpg",
                "image/jpeg",
                b"the lamp is broken, please fix it".to_vec(),
            )],
            "这个文件不是照片",
        ),
        (
            "an oversized file",
            vec![("huge.jpg", "image/jpeg", oversized)],
            "照片超过 10 MB",
        ),
        (
            "a picture with too many pixels",
            vec![("huge.png", "image/png", png(8000, 5001))],
            "照片像素太多",
        ),
        (
            "a PNG claiming to be a video",
            vec![("clip.mp4", "video/mp4", png(40, 30))],
            "文件内容与文件类型不符",
        ),
    ];
    for (case, photos, message) in cases {
        let response = report(&app, &resident, photos).await;
        assert_eq!(response.status(), 400, "{case}");
        let page = response.text().await.unwrap();
        let error = text_of(&page, "#form-error").unwrap_or_default();
        assert!(error.contains(message), "{case}: {error:?}");
        assert!(error.contains("请重新选择照片"), "{case}: {error:?}");
        // Everything typed is still there.
        assert!(page.contains(&format!(r#"value="{TITLE}""#)), "{case}");
        assert!(page.contains(DESCRIPTION), "{case}");
        assert!(page.contains(r#"value="2单元三楼""#), "{case}");
    }

    // A forged form (no form token) is refused before any photo is read.
    let forged = Form::new()
        .text("title", TITLE)
        .part("photos", Part::bytes(jpeg(64, 48)).file_name("a.jpg"));
    let response = resident
        .post(app.url("/report"))
        .multipart(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let records = app
        .state
        .store
        .list_records(&RecordFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(records.is_empty(), "no record filed half-way");
    assert!(stored_files(&app).is_empty(), "no photo file left behind");
}

#[tokio::test]
async fn other_residents_strangers_and_tampered_links_get_404() {
    let app = spawn_app().await;
    let (place, resident) = resident_of(&app).await;
    let (record, link) = file_with(
        &app,
        &resident,
        vec![("a.jpg", "image/jpeg", jpeg(120, 90))],
    )
    .await;
    let photo = photos_of(&app, &record).await.remove(0);
    let by_id = format!("/records/{}/photos/{}", record.id, photo.id);
    assert!(fetch_photo(&app, &resident, &by_id).await.is_some());

    app.add_resident(&place, "neighbour", "3号楼小李").await;
    let neighbour = app.login("neighbour").await;
    let (other_record, other_link) = file_with(
        &app,
        &neighbour,
        vec![("b.jpg", "image/jpeg", jpeg(120, 90))],
    )
    .await;
    let other_photo = photos_of(&app, &other_record).await.remove(0);

    let mut tampered = link.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let refused = [
        (&neighbour, by_id.clone()),
        (&neighbour, format!("{by_id}/thumb")),
        (&client(), by_id.clone()),
        (&client(), format!("{tampered}/photos/{}", photo.id)),
        (&client(), format!("{tampered}/photos/{}/thumb", photo.id)),
        // Another record's photo, through this record's id or link.
        (
            &resident,
            format!("/records/{}/photos/{}", record.id, other_photo.id),
        ),
        (&resident, format!("{link}/photos/{}", other_photo.id)),
        (&resident, format!("{link}/photos/999999")),
    ];
    for (browser, path) in refused {
        assert!(fetch_photo(&app, browser, &path).await.is_none(), "{path}");
    }
    // Each link shows only its own record's photo, and only to its reporter.
    let own = format!("{other_link}/photos/{}", other_photo.id);
    assert!(fetch_photo(&app, &neighbour, &own).await.is_some());
    assert!(fetch_photo(&app, &client(), &own).await.is_none());
    assert!(fetch_photo(&app, &resident, &own).await.is_none());
}

/// An observer of the place's estate, logged in.
async fn observer_of(app: &TestApp, place: &Place) -> reqwest::Client {
    let observer = app.create_account(Role::Observer, None).await;
    let change = pavilion::store::AccountChange {
        display_name: DisplayName::parse("监督员").unwrap(),
        role: Role::Observer,
        community_id: Some(place.community.id),
        estate_id: Some(place.estate.id),
        disabled: false,
    };
    app.state
        .store
        .update_account(&system(), observer.id, &change)
        .await
        .unwrap();
    app.login("observer").await
}

#[tokio::test]
async fn staff_photos_on_internal_notes_are_for_staff_and_observers_only() {
    let app = spawn_app().await;
    let (place, resident) = resident_of(&app).await;
    app.create_account(Role::Staff, None).await;
    let staff = app.login("staff").await;
    let observer = observer_of(&app, &place).await;
    let (record, link) = file_with(&app, &resident, Vec::new()).await;
    let console_page = format!("/console/records/{}", record.id);
    let act = format!("/console/records/{}/act", record.id);
    let page = app.text(&staff, &console_page).await;
    assert!(page.contains(r#"enctype="multipart/form-data""#));

    // A refused photo sends the form back with the note still typed.
    let response = send_multipart(
        &app,
        &staff,
        &act,
        &[("version", "1"), ("action", ""), ("note", "灯罩里有积水")],
        vec![("water.jpg", "image/jpeg", b"not a picture".to_vec())],
    )
    .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(text_of(&page, "#form-error")
        .unwrap_or_default()
        .contains("water.jpg"));
    assert!(page.contains("灯罩里有积水"));
    assert_eq!(app.state.store.record(record.id).await.unwrap().version, 1);

    // Before: an internal note with a photo (the "public" box left unticked).
    let response = send_multipart(
        &app,
        &staff,
        &act,
        &[
            ("version", "1"),
            ("action", "accept"),
            ("note", "灯罩里有积水，需断电维修"),
        ],
        vec![("before.jpg", "image/jpeg", jpeg(800, 600))],
    )
    .await;
    assert_eq!(response.status(), 303);
    let internal = photos_of(&app, &record).await;
    assert_eq!(internal.len(), 1);
    assert_eq!((internal[0].seq, internal[0].public), (2, false));
    let internal_path = format!("/records/{}/photos/{}", record.id, internal[0].id);

    for viewer in [&staff, &observer] {
        let shown = thumbnails(&app.text(viewer, &console_page).await);
        assert_eq!(
            shown,
            vec![(internal_path.clone(), format!("{internal_path}/thumb"))]
        );
        assert!(fetch_photo(&app, viewer, &internal_path).await.is_some());
    }
    let own_page = format!("/me/records/{}", record.id);
    assert!(thumbnails(&app.text(&resident, &own_page).await).is_empty());
    assert!(thumbnails(&app.text(&client(), &link).await).is_empty());
    assert!(fetch_photo(&app, &resident, &internal_path).await.is_none());
    let through_link = format!("{link}/photos/{}", internal[0].id);
    assert!(fetch_photo(&app, &client(), &through_link).await.is_none());

    // After: a public note with a photo (and nothing else) reaches the resident.
    let response = send_multipart(
        &app,
        &staff,
        &act,
        &[("version", "2"), ("action", ""), ("public", "on")],
        vec![("after.png", "image/png", png(640, 480))],
    )
    .await;
    assert_eq!(response.status(), 303);
    let public = photos_of(&app, &record).await.remove(1);
    assert_eq!((public.seq, public.public), (3, true));
    let shown = thumbnails(&app.text(&resident, &own_page).await);
    assert_eq!(shown.len(), 1);
    assert!(shown[0].0.ends_with(&format!("/photos/{}", public.id)));
    assert!(fetch_photo(&app, &resident, &shown[0].0).await.is_some());
    let shown = thumbnails(&app.text(&resident, &link).await);
    assert_eq!(shown.len(), 1);
    assert!(fetch_photo(&app, &resident, &shown[0].1).await.is_some());
    // Not to a stranger holding the link: the public view has no photos.
    assert!(thumbnails(&app.text(&client(), &link).await).is_empty());
    assert!(fetch_photo(&app, &client(), &shown[0].1).await.is_none());
    // Staff see both, each beside its own event.
    assert_eq!(thumbnails(&app.text(&staff, &console_page).await).len(), 2);

    // A photo sent with a form that went stale meanwhile: the event is
    // refused, and the files written for it are removed again.
    let files_before = stored_files(&app);
    let response = send_multipart(
        &app,
        &staff,
        &act,
        &[("version", "1"), ("action", ""), ("note", "迟到的表单")],
        vec![("late.jpg", "image/jpeg", jpeg(321, 123))],
    )
    .await;
    assert_eq!(response.status(), 409);
    assert_eq!(photos_of(&app, &record).await.len(), 2);
    assert_eq!(stored_files(&app), files_before);

    // An escalation writes its own event; its photo joins that event.
    let response = send_multipart(
        &app,
        &staff,
        &act,
        &[
            ("version", "3"),
            ("action", "escalate"),
            ("escalate_to", "meeting"),
            ("note", "需要业委会决定更换线路"),
            ("public", "on"),
        ],
        vec![("wiring.jpg", "image/jpeg", jpeg(400, 300))],
    )
    .await;
    assert_eq!(response.status(), 303);
    let escalated = photos_of(&app, &record).await.remove(2);
    assert_eq!((escalated.seq, escalated.public), (4, true));
}
