//! The disclosure figures at a glance: server-drawn SVG charts on the public
//! page (with their text equivalents), the lobby screen's picture of the
//! on-time trend, and both as people see them in a real browser at a
//! phone's and a lobby's size.

use fantoccini::Client;
use pavilion::domain::record::{RecordClass, RecordState};
use pavilion::domain::*;
use scraper::{Html, Selector};
use serde_json::Value;

use crate::browser::{axe_violations, browser};
use crate::disclosure_screens::{playlist, seed, seed_october};
use crate::helpers::{client, spawn_app};
use crate::kiosk_browser::open_paired_kiosk;
use crate::signage::pair_screen;

fn select<'a>(html: &'a Html, selector: &str) -> Vec<scraper::ElementRef<'a>> {
    html.select(&Selector::parse(selector).unwrap()).collect()
}

fn text(e: &scraper::ElementRef) -> String {
    e.text().collect::<Vec<_>>().join("|")
}

/// The rows of a chart's table, cells joined by `|`.
fn table_rows(figure: &scraper::ElementRef) -> Vec<String> {
    figure
        .select(&Selector::parse("tbody tr").unwrap())
        .map(|r| text(&r))
        .collect()
}

/// `n` major lift records filed half an hour ago, mended in twenty minutes
/// and rated 4 by their residents.
async fn lifts_mended_today(
    app: &crate::helpers::TestApp,
    place: &crate::helpers::Place,
    n: usize,
) {
    seed(
        app,
        place.estate.id,
        n,
        ("elevator", RecordClass::Major),
        chrono::Utc::now() - chrono::Duration::minutes(30),
        &[
            (5, RecordState::Accepted, None),
            (20, RecordState::Resolved, None),
            (25, RecordState::Closed, Some(4)),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_disclosure_page_draws_its_trends_with_their_figures_as_text() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    seed_october(&app, &place).await;

    let page = app
        .text(
            &client(),
            &format!("/disclosure?estate={}&month=2026-10", place.estate.id),
        )
        .await;
    let html = Html::parse_document(&page);
    let figures = select(&html, "figure.chart");
    assert_eq!(figures.len(), 3, "on-time, satisfaction, categories");

    // Each picture is named by its title and summary, which exist.
    for figure in &figures {
        let svg = figure
            .select(&Selector::parse("svg").unwrap())
            .next()
            .unwrap();
        assert_eq!(svg.value().attr("role"), Some("img"));
        let names = svg.value().attr("aria-labelledby").unwrap();
        for id in names.split(' ') {
            let named = select(&html, &format!("#{id}"));
            assert_eq!(named.len(), 1, "{id}");
            assert!(!text(&named[0]).trim().is_empty(), "{id} is empty");
        }
    }

    // On time per class over twelve months: October worked out by hand in
    // `seed_october` (urgent 10 of 10, general 60 of 1,065; overall 70 of 1,075).
    let on_time = &figures[0];
    assert!(page.contains("2026-10全部诉求按时率为7%"), "summary");
    let rows = table_rows(on_time);
    assert_eq!(rows.len(), 12, "{rows:?}");
    assert!(rows[0].starts_with("2025-11|"), "{rows:?}");
    assert_eq!(rows[11], "2026-10|100%|暂无|6%|暂无");
    let headings: Vec<String> = on_time
        .select(&Selector::parse("thead th").unwrap())
        .map(|h| text(&h))
        .collect();
    assert_eq!(headings, ["月份", "紧急", "重大", "一般", "疑难"]);
    // October is drawn: a point for urgent (series 0) and one for general (series 2).
    let points = |series: usize| {
        on_time
            .select(
                &Selector::parse(&format!("g.series[data-series=\"{series}\"] .point")).unwrap(),
            )
            .count()
    };
    assert!(points(0) >= 1 && points(2) >= 1);
    assert_eq!(points(1), 0, "no major records: no point, no zero");
    assert_eq!(points(3), 0);

    // Satisfaction: 2.6 in October, nothing before (a gap, not a zero).
    let satisfaction = &figures[1];
    let rows = table_rows(satisfaction);
    assert_eq!(rows[11], "2026-10|2.6");
    assert_eq!(rows[10], "2026-09|暂无");
    assert!(
        satisfaction
            .select(&Selector::parse("polyline").unwrap())
            .next()
            .is_none(),
        "one month rated: a point, no line"
    );

    // Categories of the month, largest first.
    let categories = &figures[2];
    let counts: Vec<String> = table_rows(categories)
        .iter()
        .map(|r| r.rsplit('|').next().unwrap().to_owned())
        .collect();
    assert_eq!(counts, ["1020", "40", "10", "5"]);
    assert_eq!(
        categories
            .select(&Selector::parse("g.bar").unwrap())
            .count(),
        4
    );

    // The page's validator covers the trends: the same page is a 304, and a
    // record filed in an earlier month (a trend changes) makes a new one.
    // (One visitor: the page's frame, and so its tag, follows its cookies.)
    let visitor = client();
    let path = format!("/disclosure?estate={}&month=2026-10", place.estate.id);
    let ask = |tag: Option<String>| {
        let mut request = visitor.get(app.url(&path));
        if let Some(tag) = tag {
            request = request.header("If-None-Match", tag);
        }
        request.send()
    };
    ask(None).await.unwrap();
    let first = ask(None).await.unwrap();
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(ask(Some(tag.clone())).await.unwrap().status(), 304);
    seed(
        &app,
        place.estate.id,
        1,
        ("repairs", RecordClass::General),
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 6, 3, 2, 0, 0).unwrap(),
        &[(5, RecordState::Accepted, None)],
    )
    .await;
    assert_eq!(
        ask(Some(tag)).await.unwrap().status(),
        200,
        "June's new record changes the trends"
    );
}

#[tokio::test]
async fn a_lobby_screen_gets_the_on_time_trend_as_a_picture_it_can_keep() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let token = pair_screen(&app, &place, "1号楼大堂").await;
    lifts_mended_today(&app, &place, 3).await;

    let list = playlist(&app, &token).await;
    let item: &Value = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "figures")
        .expect("a figures item");
    let urls: Vec<&str> = item["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    let expected = [
        ("on-time", "各类诉求按时办理率"),
        ("satisfaction", "居民满意度走势"),
        ("categories", "本月诉求类别"),
    ];
    assert_eq!(urls.len(), expected.len(), "{urls:?}");
    let mut pictures = Vec::new();
    for (url, (chart, title)) in urls.iter().zip(expected) {
        assert!(
            url.starts_with(&format!(
                "/kiosk/media/figures/{}/{chart}.svg?v=",
                place.estate.id
            )),
            "{url}"
        );
        // No screen token needed: the same figures are public on the page.
        let response = client().get(app.url(url)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml"));
        assert!(response.headers().contains_key("content-security-policy"));
        let tag = response.headers()["etag"].to_str().unwrap().to_owned();
        let svg = response.text().await.unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        let shown_title = root
            .children()
            .find(|n| n.has_tag_name(("http://www.w3.org/2000/svg", "title")))
            .and_then(|n| n.text());
        assert_eq!(shown_title, Some(title));
        pictures.push((url.to_string(), tag, svg));
    }
    let (url, tag, svg) = &pictures[0];
    let root_doc = roxmltree::Document::parse(svg).unwrap();
    let root = root_doc.root_element();
    // This month's major records are drawn (series 1).
    assert!(root
        .descendants()
        .any(|n| n.attribute("data-series") == Some("1")
            && n.descendants()
                .any(|p| p.attribute("class") == Some("point"))));
    // Nothing personal: no estate, building or reporter names in the pictures.
    for (_, _, svg) in &pictures {
        assert!(!svg.contains(&place.estate.name));
        assert!(!svg.contains(&place.building.name));
    }

    let again = client()
        .get(app.url(url))
        .header("If-None-Match", tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let unknown = client()
        .get(app.url("/kiosk/media/figures/999999/on-time.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let no_such_chart = client()
        .get(app.url(&format!(
            "/kiosk/media/figures/{}/secrets.svg",
            place.estate.id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(no_such_chart.status(), 404);
}

/// The page's width and the charts' smallest text, as the browser lays them out.
async fn layout(page: &Client) -> Value {
    page.execute(
        r#"const svgs = [...document.querySelectorAll('figure.chart svg')];
           const texts = svgs.flatMap(s => [...s.querySelectorAll('text')]).filter(t => t.textContent.trim());
           return {
             viewport: window.innerWidth,
             scroll: document.documentElement.scrollWidth,
             charts: svgs.map(s => s.getBoundingClientRect().width),
             smallest_text: Math.min(...texts.map(t => t.getBoundingClientRect().height)),
           };"#,
        vec![],
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_charts_read_on_a_phone_and_across_a_lobby_and_axe_finds_nothing() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    seed_october(&app, &place).await;
    let (_driver, page) = browser().await;
    let url = app.url(&format!(
        "/disclosure?estate={}&month=2026-10",
        place.estate.id
    ));
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("charts");
    std::fs::create_dir_all(&shots).unwrap();

    for (name, width, height) in [("phone", 390, 844), ("lobby", 1920, 1080)] {
        page.set_window_size(width, height).await.unwrap();
        page.goto(&url).await.unwrap();
        let violations = axe_violations(&page).await;
        assert!(violations.is_empty(), "{name}: {violations:#?}");
        let shown = layout(&page).await;
        assert!(
            shown["scroll"].as_f64() <= shown["viewport"].as_f64(),
            "{name}: the page scrolls sideways: {shown}"
        );
        let charts = shown["charts"].as_array().unwrap();
        assert_eq!(charts.len(), 3, "{name}: {shown}");
        for chart in charts {
            assert!(
                chart.as_f64().unwrap() >= 280.0,
                "{name}: a chart too small: {shown}"
            );
        }
        // Chart text stays readable: at least 13 CSS pixels high on a phone.
        assert!(
            shown["smallest_text"].as_f64().unwrap() >= 13.0,
            "{name}: {shown}"
        );
        // For looking at by eye (kept under the target directory).
        page.execute(
            "document.querySelector('figure.chart').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
        let png = page.screenshot().await.unwrap();
        std::fs::write(shots.join(format!("disclosure-{name}.png")), png).unwrap();
    }

    // The text equivalent opens from the keyboard and holds the figures.
    page.set_window_size(390, 844).await.unwrap();
    page.goto(&url).await.unwrap();
    let opened = page
        .execute(
            r#"const d = document.querySelector('figure.chart details');
               d.querySelector('summary').focus();
               d.querySelector('summary').click();
               return d.open && d.querySelector('tbody tr:last-child').innerText;"#,
            vec![],
        )
        .await
        .unwrap();
    assert!(opened.as_str().unwrap().contains("100%"), "{opened}");
}

#[tokio::test]
async fn a_lobby_screen_shows_the_trend_picture_beside_its_figures() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    lifts_mended_today(&app, &place, 2).await;
    let (_driver, page) = open_paired_kiosk(&app, &admin, &place, "大堂").await;

    // The figures are the only item: the screen shows them with the picture.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let drawn = loop {
        let drawn = page
            .execute(
                r#"const img = document.querySelector('#stage .figures .figures-chart img');
                   return img && img.complete ? { width: img.naturalWidth, alt: img.alt,
                     shown: img.getBoundingClientRect().width, opacity: getComputedStyle(img).opacity } : null;"#,
                vec![],
            )
            .await
            .unwrap();
        if drawn.is_object() && drawn["width"].as_f64() > Some(0.0) && drawn["opacity"] == "1" {
            break drawn;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no chart picture on the screen: {drawn}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert!(
        drawn["alt"].as_str().unwrap().contains("按时办理率"),
        "{drawn}"
    );
    assert!(drawn["shown"].as_f64().unwrap() >= 500.0, "{drawn}");
    // The charts take turns within the figures' turn, each with its caption.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let caption = page
            .execute(
                "return document.querySelector('#stage .figures .figures-chart-caption')?.innerText ?? ''",
                vec![],
            )
            .await
            .unwrap();
        if caption.as_str().unwrap_or_default().contains("满意度") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second chart never came: {caption}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("charts");
    std::fs::create_dir_all(&shots).unwrap();
    // Past the item's fade-in, for looking at by eye.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    std::fs::write(
        shots.join("kiosk-figures.png"),
        page.screenshot().await.unwrap(),
    )
    .unwrap();
}
