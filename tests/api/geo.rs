//! Estates on the map: Open311 requests filed by coordinates the way city
//! apps file them (a point, no address_id), by the name of an estate or a
//! building, listed with their point; and the console page where staff set
//! an estate's location and outline.

use pavilion::domain::geo::{EstateGeography, LatLon, Outline};
use pavilion::domain::{EstateId, PlaceName, Role};
use pavilion::store::RecordFilter;

use crate::helpers::*;

/// 阳光花园: a 0.004° square (about 445 m × 340 m) near Tian'anmen, its
/// location in the middle.
const SUNNY_OUTLINE: &str = "39.900000,116.390000\n39.904000,116.390000\n39.904000,116.394000\n39.900000,116.394000\n39.900000,116.390000";
const INSIDE: (&str, &str) = ("39.902", "116.392");
/// 100 m east of the square's east edge, 273 m from its location.
const NEAR: (&str, &str) = ("39.902", "116.3952");
const FAR: (&str, &str) = ("39.95", "116.5");

/// Two communities: 幸福社区's 阳光花园 with its outline, and 翠竹社区's
/// 翠竹苑 (a location only, 2 km north) with buildings 3号楼 and 5号楼; and
/// a key of the installation's admin.
struct Map {
    app: TestApp,
    sunny: Place,
    bamboo: Place,
    key: String,
}

async fn map() -> Map {
    let app = spawn_app().await;
    let sunny = app.seed_place().await;
    let bamboo = app
        .seed_place_named("翠竹社区", "CZ", "翠竹苑", "3号楼")
        .await;
    app.state
        .store
        .create_building(
            &system(),
            bamboo.estate.id,
            &PlaceName::parse("5号楼").unwrap(),
        )
        .await
        .unwrap();
    let store = &app.state.store;
    let outline = Outline::parse(SUNNY_OUTLINE).unwrap();
    store
        .set_estate_geography(
            &system(),
            sunny.estate.id,
            Some(&EstateGeography {
                location: outline.centre(),
                outline: Some(outline),
                geocode: None,
            }),
        )
        .await
        .unwrap();
    store
        .set_estate_geography(
            &system(),
            bamboo.estate.id,
            Some(&EstateGeography {
                location: LatLon::new(39.92, 116.392).unwrap(),
                outline: None,
                geocode: None,
            }),
        )
        .await
        .unwrap();
    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let key = app.issue_open311_key(&admin, "城市服务平台").await;
    Map {
        app,
        sunny,
        bamboo,
        key,
    }
}

impl Map {
    async fn file(&self, place: &[(&str, &str)]) -> reqwest::Response {
        let mut fields = vec![
            ("api_key", self.key.as_str()),
            ("service_code", "repairs"),
            ("description", "路灯不亮了，晚上很黑"),
            ("first_name", "张三"),
            ("phone", "13800000000"),
        ];
        fields.extend_from_slice(place);
        self.app.open311_post(&fields).await
    }

    /// Files and returns the new record.
    async fn filed(&self, place: &[(&str, &str)]) -> pavilion::domain::record::Record {
        let response = self.file(place).await;
        assert_eq!(response.status(), 201, "{place:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        let number = body[0]["service_request_id"].as_str().unwrap().to_owned();
        self.record(&number).await
    }

    async fn record(&self, number: &str) -> pavilion::domain::record::Record {
        self.app
            .state
            .store
            .list_records(&RecordFilter {
                numbers: vec![number.to_owned()],
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .remove(0)
    }

    async fn record_count(&self) -> usize {
        self.app
            .state
            .store
            .list_records(&RecordFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
    }
}

/// A refusal in GeoReport's shape: `[{"code": 400, "description": "…"}]`.
async fn refusal(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body[0]["code"], status, "{body}");
    body[0]["description"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_point_lands_in_the_estate_around_it_or_the_nearest_within_reach() {
    let map = map().await;

    let inside = map.filed(&[("lat", INSIDE.0), ("long", INSIDE.1)]).await;
    assert_eq!(inside.estate_id, map.sunny.estate.id);
    assert_eq!(inside.point, Some(LatLon::new(39.902, 116.392).unwrap()));
    assert_eq!(
        inside.source,
        pavilion::domain::record::RecordSource::Open311
    );

    let near = map.filed(&[("lat", NEAR.0), ("long", NEAR.1)]).await;
    assert_eq!(
        near.estate_id, map.sunny.estate.id,
        "273 m from its location"
    );
    assert_eq!(near.point, Some(LatLon::new(39.902, 116.3952).unwrap()));

    // Closer to 翠竹苑's location than to 阳光花园's outline.
    let north = map.filed(&[("lat", "39.9215"), ("long", "116.392")]).await;
    assert_eq!(north.estate_id, map.bamboo.estate.id);

    // With a point, a building name picks the building of the estate there
    // (both estates have a 3号楼).
    let building = map
        .filed(&[
            ("lat", INSIDE.0),
            ("long", INSIDE.1),
            ("address_string", "3号楼"),
        ])
        .await;
    assert_eq!(building.building_id, Some(map.sunny.building.id));
    assert_eq!(
        building.location, "3号楼",
        "what the client called it, for staff"
    );

    let before = map.record_count().await;
    let far = refusal(map.file(&[("lat", FAR.0), ("long", FAR.1)]).await, 400).await;
    assert!(far.contains("300 m"), "{far}");
    for (lat, long, says) in [
        ("91", "116.39", "lat must lie between -90 and 90"),
        ("39.9", "181", "long must lie between -180 and 180"),
        ("北纬39度", "116.39", "lat must be a number"),
        ("39.9", "NaN", "long must be a number"),
        ("39.9", "", "lat and long go together"),
    ] {
        let problem = refusal(map.file(&[("lat", lat), ("long", long)]).await, 400).await;
        assert!(problem.contains(says), "{lat},{long}: {problem}");
    }
    let nowhere = refusal(map.file(&[]).await, 400).await;
    assert!(
        nowhere.contains("lat and long, address_string or address_id"),
        "{nowhere}"
    );
    // The XML form of the same refusal.
    let xml = client()
        .post(map.app.url("/open311/v2/requests.xml"))
        .form(&[
            ("api_key", map.key.as_str()),
            ("service_code", "repairs"),
            ("description", "路灯不亮"),
            ("lat", FAR.0),
            ("long", FAR.1),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(xml.status(), 400);
    let body = xml.text().await.unwrap();
    assert!(
        body.contains("<errors><error><code>400</code><description>"),
        "{body}"
    );
    assert_eq!(
        map.record_count().await,
        before,
        "nothing filed by a refusal"
    );
}

#[tokio::test]
async fn a_scoped_key_files_by_point_only_into_its_own_community() {
    let map = map().await;
    let app = &map.app;
    app.add_staff(Role::Admin, "bamboo_admin", Some(map.bamboo.community.id))
        .await;
    let bamboo_admin = app.login("bamboo_admin").await;
    let key = app.issue_open311_key(&bamboo_admin, "翠竹热线").await;
    let post = |lat: &'static str, long: &'static str, address: &'static str| {
        let key = key.clone();
        async move {
            app.open311_post(&[
                ("api_key", key.as_str()),
                ("service_code", "repairs"),
                ("description", "路灯不亮"),
                ("lat", lat),
                ("long", long),
                ("address_string", address),
            ])
            .await
        }
    };
    let before = map.record_count().await;
    // Inside 阳光花园's outline: the point is not moved to the key's estate.
    let problem = refusal(post(INSIDE.0, INSIDE.1, "").await, 403).await;
    assert!(problem.contains("may not file"), "{problem}");
    assert_eq!(map.record_count().await, before);
    // A name both communities share means the key's own.
    let own = post("", "", "3号楼").await;
    assert_eq!(own.status(), 201);
    let body: serde_json::Value = own.json().await.unwrap();
    let record = map
        .record(body[0]["service_request_id"].as_str().unwrap())
        .await;
    assert_eq!(record.estate_id, map.bamboo.estate.id);
    assert_eq!(record.building_id, Some(map.bamboo.building.id));
}

#[tokio::test]
async fn address_string_names_an_estate_or_a_building() {
    let map = map().await;
    let estate = map.filed(&[("address_string", " 翠竹苑 ")]).await;
    assert_eq!(estate.estate_id, map.bamboo.estate.id);
    assert_eq!(estate.building_id, None);
    assert_eq!(estate.point, None);

    // Full-width digits and spaces, the estate's name before the building's.
    let building = map.filed(&[("address_string", "阳光花园　３号楼")]).await;
    assert_eq!(building.estate_id, map.sunny.estate.id);
    assert_eq!(building.building_id, Some(map.sunny.building.id));

    let five = map.filed(&[("address_string", "5号楼")]).await;
    assert_eq!(five.estate_id, map.bamboo.estate.id);
    assert!(five.building_id.is_some());

    // When the point finds no estate, the name still may (an estate whose
    // place is not set yet).
    let named = map
        .filed(&[
            ("lat", FAR.0),
            ("long", FAR.1),
            ("address_string", "阳光花园"),
        ])
        .await;
    assert_eq!(named.estate_id, map.sunny.estate.id);

    let before = map.record_count().await;
    let ambiguous = refusal(map.file(&[("address_string", "3号楼")]).await, 400).await;
    assert!(
        ambiguous.contains("matches 2 places")
            && ambiguous.contains("阳光花园 3号楼")
            && ambiguous.contains("翠竹苑 3号楼"),
        "{ambiguous}"
    );
    let unknown = refusal(map.file(&[("address_string", "人民大会堂")]).await, 400).await;
    assert!(unknown.contains("names no estate or building"), "{unknown}");
    let long = "长".repeat(201);
    let too_long = refusal(map.file(&[("address_string", &long)]).await, 400).await;
    assert!(too_long.contains("at most 200"), "{too_long}");
    assert_eq!(map.record_count().await, before);
}

#[tokio::test]
async fn listings_carry_the_estate_location_and_nothing_personal() {
    let map = map().await;
    let app = &map.app;
    let by_point = map.filed(&[("lat", NEAR.0), ("long", NEAR.1)]).await;
    let by_name = map.filed(&[("address_string", "翠竹苑 5号楼")]).await;
    // An estate no one has placed yet.
    let elsewhere = app
        .seed_place_named("和平社区", "HP", "和平里", "1号楼")
        .await;
    let unplaced = map
        .filed(&[("address_id", &elsewhere.estate.id.to_string())])
        .await;

    let listing = app.text(&client(), "/open311/v2/requests.json").await;
    // The title is public (GeoReport requests are, by the standard); who
    // called and their number are not.
    for personal in ["张三", "13800000000"] {
        assert!(!listing.contains(personal), "{personal} in {listing}");
    }
    let listing: serde_json::Value = serde_json::from_str(&listing).unwrap();
    let find = |number: &str| {
        listing
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["service_request_id"] == number)
            .unwrap()
            .clone()
    };
    // Filed at a phone's position: listed at its estate's location, never
    // at the point (often the caller's doorway).
    let point = find(&by_point.number);
    assert_eq!(point["lat"], 39.902);
    assert_eq!(
        point["long"], 116.392,
        "the estate's location, not the point"
    );
    assert!(!serde_json::to_string(&listing)
        .unwrap()
        .contains("116.3952"));
    let named = find(&by_name.number);
    assert_eq!(named["lat"], 39.92, "the estate's location");
    assert_eq!(named["long"], 116.392);
    assert_eq!(named["address"], "翠竹苑 5号楼");
    let nowhere = find(&unplaced.number);
    assert!(
        nowhere["lat"].is_null() && nowhere["long"].is_null(),
        "{nowhere}"
    );

    let one: serde_json::Value = app
        .json(
            &client(),
            &format!("/open311/v2/requests/{}.json", by_point.number),
        )
        .await;
    assert_eq!(one[0]["lat"], 39.902);
    let xml = app
        .text(
            &client(),
            &format!("/open311/v2/requests/{}.xml", by_name.number),
        )
        .await;
    assert!(
        xml.contains("<lat>39.92</lat><long>116.392</long>"),
        "{xml}"
    );
    assert!(!xml.contains("张三"));

    // Other methods: 405, saying which there are, in GeoReport's shape.
    let put = client()
        .put(app.url("/open311/v2/requests.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.headers()["allow"], "GET, POST");
    refusal(put, 405).await;
    let delete = client()
        .delete(app.url(&format!("/open311/v2/requests/{}.json", by_point.number)))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.headers()["allow"], "GET");
    refusal(delete, 405).await;
    // A number that cannot be one is not looked for.
    let odd = client()
        .get(app.url("/open311/v2/requests/%00%27.json"))
        .send()
        .await
        .unwrap();
    refusal(odd, 404).await;
}

/// GeoReport v2 as a Python client reads it: the PyPI `georeport` package
/// for services and requests; it has no filing call, so the request is
/// built by hand from the GeoReport v2 text and sent with `requests`.
const GEOREPORT_CLIENT: &str = r#"
import json, sys
import requests
from georeport import GeoReport

root, key = sys.argv[1], sys.argv[2]
city = GeoReport(root, api_key=key)
services = city.get_service_list()
assert any(s["service_code"] == "repairs" for s in services), services

# POST Service Request: form-encoded, a location by lat & long alone.
filed = requests.post(root + "/requests.json", data={
    "api_key": key, "service_code": "repairs", "lat": "39.902", "long": "116.392",
    "description": "Streetlight out at the east gate", "email": "resident@example.org",
    "first_name": "Li", "last_name": "Lei", "phone": "13900001111",
}, timeout=10)
number = filed.json()[0]["service_request_id"]
far = requests.post(root + "/requests.json", data={
    "api_key": key, "service_code": "repairs", "lat": "10.0", "long": "10.0",
    "description": "Far away",
}, timeout=10)
print(json.dumps({
    "filed": filed.status_code,
    "one": city.get_service_request(number),
    "xml": GeoReport(root, output_format="xml").get_service_request(number),
    "listed": [r["service_request_id"] for r in city.get_service_requests(status="open")],
    "far": far.status_code,
    "far_body": far.json(),
}))
"#;

#[tokio::test]
async fn the_georeport_client_reads_what_a_point_filed() {
    let map = map().await;
    let root = map.app.url("/open311/v2");
    let output = tokio::process::Command::new(python())
        .args(["-c", GEOREPORT_CLIENT, &root, &map.key])
        .output()
        .await
        .expect("python runs");
    assert!(
        output.status.success(),
        "the georeport client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["filed"], 201, "{seen}");
    let one = &seen["one"];
    let number = one["service_request_id"].as_str().unwrap();
    assert_eq!(one["lat"], 39.902);
    assert_eq!(one["long"], 116.392);
    assert_eq!(one["status"], "open");
    assert_eq!(one["address_id"], map.sunny.estate.id.to_string());
    assert_eq!(seen["xml"]["lat"], "39.902");
    assert_eq!(seen["xml"]["address"], "阳光花园");
    assert!(seen["listed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == number));
    assert!(!seen.to_string().contains("13900001111"));
    assert_eq!(seen["far"], 400);
    assert_eq!(seen["far_body"][0]["code"], 400);
    let record = map.record(number).await;
    assert_eq!(record.estate_id, map.sunny.estate.id);
}

#[tokio::test]
async fn staff_set_an_estate_place_on_its_page() {
    let app = spawn_app().await;
    let sunny = app.seed_place().await;
    let bamboo = app
        .seed_place_named("翠竹社区", "CZ", "翠竹苑", "3号楼")
        .await;
    let page_of = |estate: EstateId| format!("/console/estates/{estate}/place");
    let sunny_page = page_of(sunny.estate.id);

    // Property staff of another community, and its admin: not theirs.
    app.add_staff(Role::Staff, "bamboo_staff", Some(bamboo.community.id))
        .await;
    app.add_staff(Role::Admin, "bamboo_admin", Some(bamboo.community.id))
        .await;
    let bamboo_staff = app.login("bamboo_staff").await;
    let response = bamboo_staff.get(app.url(&sunny_page)).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let response = app
        .post_form(&bamboo_staff, &sunny_page, &[("outline", SUNNY_OUTLINE)])
        .await;
    assert_eq!(response.status(), 403);
    let bamboo_admin = app.login("bamboo_admin").await;
    // Outside an admin's scope the estate does not exist for them.
    let response = bamboo_admin.get(app.url(&sunny_page)).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let response = app
        .post_form(&bamboo_admin, &sunny_page, &[("outline", SUNNY_OUTLINE)])
        .await;
    assert_eq!(response.status(), 404);
    // Their own estate is theirs to place.
    let response = bamboo_admin
        .get(app.url(&page_of(bamboo.estate.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(app
        .state
        .store
        .estate_geography(sunny.estate.id)
        .await
        .unwrap()
        .is_none());

    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let empty = app.text(&admin, &sunny_page).await;
    assert!(
        text_of(&empty, "#place-no-map").is_some(),
        "no map before a place"
    );
    assert!(app
        .text(&admin, &format!("/console/estates/{}", sunny.estate.id))
        .await
        .contains(&sunny_page));

    // Without the form token nothing is saved.
    let forged = admin
        .post(app.url(&sunny_page))
        .form(&[("outline", SUNNY_OUTLINE)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // An outline that is not closed comes back with what was typed.
    let open_ring = "39.900000,116.390000\n39.904000,116.390000\n39.904000,116.394000";
    let response = app
        .post_form(
            &admin,
            &sunny_page,
            &[("location", ""), ("outline", open_ring)],
        )
        .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    let problem = text_of(&page, "#form-error").unwrap();
    assert!(
        problem.contains("轮廓") && problem.contains("闭合"),
        "{problem}"
    );
    assert_eq!(
        text_of(&page, "textarea#outline").unwrap().trim(),
        open_ring
    );
    let bad_building = app
        .post_form(
            &admin,
            &sunny_page,
            &[
                ("outline", SUNNY_OUTLINE),
                (&format!("building-{}", sunny.building.id), "39.9,200"),
            ],
        )
        .await;
    assert_eq!(bad_building.status(), 400);
    let problem = text_of(&bad_building.text().await.unwrap(), "#form-error").unwrap();
    assert!(
        problem.contains("3号楼") && problem.contains("经度"),
        "{problem}"
    );
    assert!(app
        .state
        .store
        .estate_geography(sunny.estate.id)
        .await
        .unwrap()
        .is_none());
    assert!(app.audit("estate.geography").await.is_empty());

    // A closed ring saves; the location, left empty, is its middle.
    let response = app
        .post_form(
            &admin,
            &sunny_page,
            &[
                ("location", ""),
                ("outline", SUNNY_OUTLINE),
                ("geocode", "110101"),
                (
                    &format!("building-{}", sunny.building.id),
                    "39.9025,116.3915",
                ),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("{sunny_page}?done=updated"));
    let place = app
        .state
        .store
        .estate_geography(sunny.estate.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(place.location, LatLon::new(39.902, 116.392).unwrap());
    assert_eq!(place.outline.unwrap().points().len(), 5);
    assert_eq!(place.geocode.as_deref(), Some("110101"));
    assert_eq!(
        app.state
            .store
            .building_locations(sunny.estate.id)
            .await
            .unwrap(),
        [(sunny.building.id, LatLon::new(39.9025, 116.3915).unwrap())]
    );
    assert_eq!(app.audit("estate.geography").await.len(), 1);
    assert_eq!(app.audit("building.location").await.len(), 1);

    // The page draws it: the outline, the location, the building, a scale.
    let page = app.text(&admin, &sunny_page).await;
    let html = scraper::Html::parse_document(&page);
    let one = |selector: &str| {
        html.select(&scraper::Selector::parse(selector).unwrap())
            .count()
    };
    assert_eq!(
        one("svg[data-place-map] polygon.place-outline"),
        1,
        "{page}"
    );
    assert_eq!(one("svg[data-place-map] circle.place-location"), 1);
    assert_eq!(one("svg[data-place-map] circle.place-building"), 1);
    assert_eq!(one("svg[data-place-map] g.place-scale line"), 1);
    assert_eq!(one("script[src*='place-map']"), 1);
    let scale = text_of(&page, "g.place-scale text").unwrap();
    assert_eq!(scale, "100 m");
    assert_eq!(
        text_of(&page, "textarea#outline").unwrap().trim(),
        SUNNY_OUTLINE
    );

    // Cleared, it is gone (and that is audited too).
    let response = app
        .post_form(&admin, &sunny_page, &[("action", "clear")])
        .await;
    assert_eq!(response.status(), 303);
    assert!(app
        .state
        .store
        .estate_geography(sunny.estate.id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(app.audit("estate.geography").await.len(), 2);
}

/// The map in a real browser: clicks on it add corners to the outline (the
/// ring kept closed), the last one can be undone, and the form saves them.
#[tokio::test]
async fn an_admin_clicks_an_outline_onto_the_map_and_saves_it() {
    use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
    use fantoccini::Locator;

    let app = spawn_app().await;
    let sunny = app.seed_place().await;
    let centre = LatLon::new(39.902, 116.392).unwrap();
    app.state
        .store
        .set_estate_geography(
            &system(),
            sunny.estate.id,
            Some(&EstateGeography {
                location: centre,
                outline: None,
                geocode: None,
            }),
        )
        .await
        .unwrap();
    app.create_account(Role::Admin, None).await;
    let (_driver, page) = crate::browser::browser().await;
    crate::browser::log_in(&page, &app, "admin", "/console").await;
    let path = format!("/console/estates/{}/place", sunny.estate.id);
    page.goto(&app.url(&path)).await.unwrap();
    let click = |x: i64, y: i64| {
        let page = page.clone();
        async move {
            let map = page
                .find(Locator::Css("svg[data-place-map]"))
                .await
                .unwrap();
            // The whole map in view: offsets count from its visible middle.
            page.execute(
                "arguments[0].scrollIntoView({block: 'center'});",
                vec![serde_json::to_value(&map).unwrap()],
            )
            .await
            .unwrap();
            let mouse = MouseActions::new("mouse".into())
                .then(PointerAction::MoveToElement {
                    element: map,
                    duration: None,
                    x,
                    y,
                })
                .then(PointerAction::Down {
                    button: MOUSE_BUTTON_LEFT,
                })
                .then(PointerAction::Up {
                    button: MOUSE_BUTTON_LEFT,
                });
            page.perform_actions(mouse).await.unwrap();
        }
    };
    let outline_lines = || {
        let page = page.clone();
        async move {
            let value = page
                .execute("return document.getElementById('outline').value;", vec![])
                .await
                .unwrap();
            value
                .as_str()
                .unwrap()
                .lines()
                .map(|l| LatLon::parse(l).unwrap())
                .collect::<Vec<_>>()
        }
    };
    // North-west, north-east, then south of the middle.
    click(-100, -80).await;
    click(100, -80).await;
    assert_eq!(outline_lines().await.len(), 2, "open until three corners");
    click(0, 80).await;
    let ring = outline_lines().await;
    assert_eq!(ring.len(), 4, "{ring:?}");
    assert_eq!(ring[0], ring[3], "closed");
    assert!(
        ring[0].lat() > centre.lat() && ring[0].lon() < centre.lon(),
        "{ring:?}"
    );
    assert!(
        ring[1].lat() > centre.lat() && ring[1].lon() > centre.lon(),
        "{ring:?}"
    );
    assert!(ring[2].lat() < centre.lat(), "{ring:?}");
    let drawn = page
        .execute(
            "return document.getElementById('place-draft').getAttribute('points');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(drawn.as_str().unwrap().split(' ').count(), 4, "{drawn}");

    // Undo takes the last corner back (and opens the ring); a click adds it again.
    page.find(Locator::Css("[data-place-undo]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(outline_lines().await, ring[..2]);
    click(0, 80).await;
    assert_eq!(outline_lines().await, ring);

    page.find(Locator::Css("button[name=action][value=save]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_element(Locator::Css("svg[data-place-map] polygon.place-outline"))
        .await
        .unwrap();
    let place = app
        .state
        .store
        .estate_geography(sunny.estate.id)
        .await
        .unwrap()
        .unwrap();
    let outline = place.outline.expect("the outline was saved");
    assert_eq!(outline.points(), ring);
    assert!(outline.contains(&centre));
    assert_eq!(place.location, centre, "the location typed stays");
    let refused = crate::browser::csp_violations(&page).await;
    assert!(refused.is_empty(), "{refused:?}");
    let violations = crate::browser::axe_violations(&page).await;
    assert!(violations.is_empty(), "{violations:#?}");
    page.close().await.unwrap();
}
