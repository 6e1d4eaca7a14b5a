//! Where an estate is: its location, its outline and its buildings'
//! locations, typed as "lat,long" lines and drawn on a map made here (an
//! inline SVG with a scale; no tile server). A small script lets staff
//! click corners onto the map; the textarea stays what is saved.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::geo::{EstateGeography, GeoError, LatLon, Outline};
use crate::domain::{Building, BuildingId, EstateId};
use crate::web::assets::asset_url;
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::{see_other, sent_back, CheckedForm};
use crate::web::layout::{console_page, flash, form_error, form_token};
use crate::web::AppState;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The form as typed: the estate's fields, and one `building-{id}` field
/// per building.
#[derive(Deserialize, Default)]
pub struct PlaceForm {
    #[serde(default)]
    location: String,
    #[serde(default)]
    outline: String,
    #[serde(default)]
    geocode: String,
    /// `clear` forgets the estate's place; anything else saves.
    #[serde(default)]
    action: String,
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

fn building_field(id: BuildingId) -> String {
    format!("building-{id}")
}

/// A geometry mistake in the viewer's language, after the field's name.
fn geo_problem(ctx: &Ctx, field: &str, error: &GeoError) -> String {
    let key = error.message_key();
    let message = match error {
        GeoError::BadPair(line) => ctx.lang.tf(key, &[("n", line)]),
        GeoError::TooManyPoints(n) => ctx.lang.tf(key, &[("n", n)]),
        GeoError::TooLarge(km) => ctx.lang.tf(key, &[("n", km)]),
        _ => ctx.t(key).into_owned(),
    };
    format!("{field}{} {message}", ctx.t("punct.colon"))
}

pub async fn show(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let id = EstateId(*id);
    let place = state.store.estate_geography(id).await?;
    let located: HashMap<BuildingId, LatLon> = state
        .store
        .building_locations(id)
        .await?
        .into_iter()
        .collect();
    let mut typed = PlaceForm::default();
    if let Some(place) = &place {
        typed.location = place.location.to_string();
        typed.outline = place
            .outline
            .as_ref()
            .map(Outline::to_lines)
            .unwrap_or_default();
        typed.geocode = place.geocode.clone().unwrap_or_default();
    }
    for (building, at) in located {
        typed.rest.insert(building_field(building), at.to_string());
    }
    place_page(&state, &staff, id, &typed, done.done.as_deref(), None).await
}

pub async fn save(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<PlaceForm>,
) -> Result<HttpResponse, WebError> {
    let id = EstateId(*id);
    let ctx = &staff.ctx;
    let typed = &form.data;
    // The estate must exist before anything is read of the form.
    state.store.estate(id).await?;
    if typed.action == "clear" {
        state
            .store
            .set_estate_geography(&staff.actor(), id, None)
            .await?;
        return Ok(see_other(&format!(
            "/console/estates/{id}/place?done=updated"
        )));
    }
    let buildings = state.store.list_buildings(id).await?;
    match checked(ctx, typed, &buildings) {
        Err(problem) => Ok(sent_back(
            place_page(&state, &staff, id, typed, None, Some(&problem)).await?,
        )),
        Ok((place, building_places)) => {
            state
                .store
                .set_estate_geography(&staff.actor(), id, Some(&place))
                .await?;
            let before: HashMap<BuildingId, LatLon> = state
                .store
                .building_locations(id)
                .await?
                .into_iter()
                .collect();
            for (building, at) in building_places {
                if before.get(&building).copied() != at {
                    state
                        .store
                        .set_building_location(&staff.actor(), building, at)
                        .await?;
                }
            }
            Ok(see_other(&format!(
                "/console/estates/{id}/place?done=updated"
            )))
        }
    }
}

/// The estate's place and its buildings' locations, or what is wrong.
#[allow(clippy::type_complexity)]
fn checked(
    ctx: &Ctx,
    typed: &PlaceForm,
    buildings: &[Building],
) -> Result<(EstateGeography, Vec<(BuildingId, Option<LatLon>)>), String> {
    let outline = match typed.outline.trim() {
        "" => None,
        raw => {
            Some(Outline::parse(raw).map_err(|e| geo_problem(ctx, &ctx.t("place.outline"), &e))?)
        }
    };
    let location = match (typed.location.trim(), &outline) {
        ("", Some(outline)) => outline.centre(),
        ("", None) => return Err(ctx.t("place.error.nothing").into_owned()),
        (raw, _) => {
            LatLon::parse(raw).map_err(|e| geo_problem(ctx, &ctx.t("place.location"), &e))?
        }
    };
    let geocode = match EstateGeography::parse_geocode(&typed.geocode) {
        None => None,
        Some(Ok(code)) => Some(code),
        Some(Err(_)) => return Err(ctx.t("place.error.geocode").into_owned()),
    };
    let mut building_places = Vec::new();
    for building in buildings {
        let raw = typed
            .rest
            .get(&building_field(building.id))
            .map_or("", |v| v.trim());
        let at = match raw {
            "" => None,
            raw => Some(LatLon::parse(raw).map_err(|e| geo_problem(ctx, &building.name, &e))?),
        };
        building_places.push((building.id, at));
    }
    Ok((
        EstateGeography {
            location,
            outline,
            geocode,
        },
        building_places,
    ))
}

async fn place_page(
    state: &AppState,
    staff: &Staff,
    id: EstateId,
    typed: &PlaceForm,
    done: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let estate = state.store.estate(id).await?;
    let community = state.store.community(estate.community_id).await?;
    let buildings = state.store.list_buildings(id).await?;
    // The map shows what is typed, as far as it reads.
    let outline = Outline::parse(&typed.outline).ok();
    let location = LatLon::parse(&typed.location)
        .ok()
        .or_else(|| outline.as_ref().map(Outline::centre));
    let marks: Vec<(&str, LatLon)> = buildings
        .iter()
        .filter_map(|b| {
            let raw = typed.rest.get(&building_field(b.id))?;
            Some((b.name.as_str(), LatLon::parse(raw).ok()?))
        })
        .collect();
    let map = Map::around(location, outline.as_ref(), &marks);
    let title = ctx.t("place.title");
    let body = html! {
        nav aria-label=(ctx.t("nav.breadcrumbs")) class="breadcrumbs" {
            ol {
                li { a href="/console/communities" { (ctx.t("nav.directory")) } }
                li { a href={"/console/communities/" (community.id)} { (community.name) } }
                li { a href={"/console/estates/" (estate.id)} { (estate.name) } }
            }
        }
        h1 { (estate.name) " · " (title) }
        (flash(ctx, done))
        (form_error(problem))
        @match &map {
            Some(map) => figure class="place-map" {
                (map.svg(ctx, location, outline.as_ref(), &marks))
                figcaption class="hint" { (ctx.t("place.map_hint")) }
            },
            None => p class="muted" id="place-no-map" { (ctx.t("place.no_map")) },
        }
        form method="post" action={"/console/estates/" (id) "/place"} class="stack" {
            (form_token(ctx))
            label for="location" { (ctx.t("place.location")) }
            input id="location" name="location" type="text" maxlength="40"
                value=(typed.location) placeholder="39.908722,116.397499" aria-describedby="location-hint";
            p class="hint" id="location-hint" { (ctx.t("place.location_hint")) }
            label for="outline" { (ctx.t("place.outline")) }
            textarea id="outline" name="outline" rows="8" aria-describedby="outline-hint" { (typed.outline) }
            p class="hint" id="outline-hint" { (ctx.t("place.outline_hint")) }
            p hidden data-place-tools {
                button type="button" class="secondary" data-place-undo { (ctx.t("place.undo_corner")) }
                " "
                button type="button" class="secondary" data-place-forget { (ctx.t("place.forget_outline")) }
            }
            label for="geocode" { (ctx.t("place.geocode")) }
            input id="geocode" name="geocode" type="text" maxlength="12" inputmode="numeric"
                value=(typed.geocode) aria-describedby="geocode-hint";
            p class="hint" id="geocode-hint" { (ctx.t("place.geocode_hint")) }
            @if !buildings.is_empty() {
                table class="place-buildings" {
                    caption { (ctx.t("place.buildings")) }
                    thead { tr { th scope="col" { (ctx.t("field.building_name")) } th scope="col" { (ctx.t("place.location")) } } }
                    tbody {
                        @for b in &buildings {
                            @let field = building_field(b.id);
                            tr {
                                th scope="row" { label for=(field) { (b.name) } }
                                td { input id=(field) name=(field) type="text" maxlength="40"
                                    value=(typed.rest.get(&field).map_or("", String::as_str)); }
                            }
                        }
                    }
                }
            }
            p {
                button type="submit" name="action" value="save" { (ctx.t("action.save")) }
                " "
                button type="submit" name="action" value="clear" class="secondary" { (ctx.t("place.clear")) }
            }
        }
        script src=(asset_url("js/place-map.js")) defer {}
    };
    Ok(console_page(
        staff,
        &format!("{} · {title}", estate.name),
        body,
    ))
}

/// Metres per degree of latitude, and of longitude at the equator.
const METRES_PER_DEGREE_LAT: f64 = 110_574.0;
const METRES_PER_DEGREE_LON: f64 = 111_320.0;

/// A map's frame: what part of the Earth its 640 × 480 units show.
struct Map {
    west: f64,
    north: f64,
    /// Degrees of longitude and latitude per unit.
    x_deg: f64,
    y_deg: f64,
    metres_per_unit: f64,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 480.0;

impl Map {
    /// A frame around everything there is to show, at least 300 m across;
    /// `None` when there is nothing yet.
    fn around(
        location: Option<LatLon>,
        outline: Option<&Outline>,
        marks: &[(&str, LatLon)],
    ) -> Option<Map> {
        let points: Vec<LatLon> = location
            .into_iter()
            .chain(outline.into_iter().flat_map(|o| o.points().iter().copied()))
            .chain(marks.iter().map(|(_, p)| *p))
            .collect();
        if points.is_empty() {
            return None;
        }
        let lat = |f: fn(f64, f64) -> f64| points.iter().map(LatLon::lat).fold(points[0].lat(), f);
        let lon = |f: fn(f64, f64) -> f64| points.iter().map(LatLon::lon).fold(points[0].lon(), f);
        let (south, north) = (lat(f64::min), lat(f64::max));
        let (west, east) = (lon(f64::min), lon(f64::max));
        let (mid_lat, mid_lon) = ((south + north) / 2.0, (west + east) / 2.0);
        let shrink = mid_lat.to_radians().cos().max(0.01);
        let width_m = (east - west) * METRES_PER_DEGREE_LON * shrink;
        let height_m = (north - south) * METRES_PER_DEGREE_LAT;
        // A margin of a fifth around what is shown.
        let metres_per_unit = (width_m / (WIDTH * 0.8))
            .max(height_m / (HEIGHT * 0.8))
            .max(300.0 / WIDTH);
        let x_deg = metres_per_unit / (METRES_PER_DEGREE_LON * shrink);
        let y_deg = metres_per_unit / METRES_PER_DEGREE_LAT;
        Some(Map {
            west: mid_lon - WIDTH / 2.0 * x_deg,
            north: mid_lat + HEIGHT / 2.0 * y_deg,
            x_deg,
            y_deg,
            metres_per_unit,
        })
    }

    fn xy(&self, p: LatLon) -> (f64, f64) {
        (
            (p.lon() - self.west) / self.x_deg,
            (self.north - p.lat()) / self.y_deg,
        )
    }

    /// The scale bar: a round length near a quarter of the width.
    fn scale(&self) -> (f64, u32) {
        let quarter = WIDTH / 4.0 * self.metres_per_unit;
        let metres = [
            10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000,
        ]
        .into_iter()
        .rev()
        .find(|m| f64::from(*m) <= quarter)
        .unwrap_or(10);
        (f64::from(metres) / self.metres_per_unit, metres)
    }

    fn svg(
        &self,
        ctx: &Ctx,
        location: Option<LatLon>,
        outline: Option<&Outline>,
        marks: &[(&str, LatLon)],
    ) -> Markup {
        let ring = |points: &[LatLon]| {
            points
                .iter()
                .map(|p| {
                    let (x, y) = self.xy(*p);
                    format!("{x:.1},{y:.1}")
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (bar, metres) = self.scale();
        let scale_label = if metres >= 1000 {
            format!("{} km", metres / 1000)
        } else {
            format!("{metres} m")
        };
        html! {
            svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (WIDTH) " " (HEIGHT)}
                width="100%" role="img" aria-label=(ctx.t("place.map_label"))
                data-place-map data-west=(format!("{:.7}", self.west)) data-north=(format!("{:.7}", self.north))
                data-x-deg=(format!("{:.10}", self.x_deg)) data-y-deg=(format!("{:.10}", self.y_deg)) {
                rect x="0" y="0" width=(WIDTH) height=(HEIGHT) fill="#f3f5f2" stroke="#c9cfc6" {}
                @if let Some(outline) = outline {
                    polygon class="place-outline" points=(ring(outline.points()))
                        fill="#2e7d4f" fill-opacity="0.15" stroke="#2e7d4f" stroke-width="2" {}
                }
                // What the script draws while corners are clicked.
                polyline id="place-draft" points="" fill="none" stroke="#b3541e"
                    stroke-width="2" stroke-dasharray="6 4" {}
                @for (name, at) in marks {
                    @let (x, y) = self.xy(*at);
                    circle class="place-building" cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="4" fill="#35598f" {}
                    text x=(format!("{:.1}", x + 6.0)) y=(format!("{:.1}", y + 4.0)) font-size="12" fill="#1f2b3d" { (name) }
                }
                @if let Some(at) = location {
                    @let (x, y) = self.xy(at);
                    circle class="place-location" cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="6"
                        fill="#c0392b" stroke="#ffffff" stroke-width="2" {}
                }
                g class="place-scale" {
                    line x1="16" y1=(HEIGHT - 20.0) x2=(format!("{:.1}", 16.0 + bar)) y2=(HEIGHT - 20.0)
                        stroke="#1f2b3d" stroke-width="3" {}
                    text x="16" y=(HEIGHT - 28.0) font-size="12" fill="#1f2b3d" { (scale_label) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).unwrap()
    }

    #[test]
    fn the_frame_holds_everything_with_a_margin_and_a_round_scale() {
        let outline = Outline::parse(
            "39.900,116.390\n39.904,116.390\n39.904,116.394\n39.900,116.394\n39.900,116.390",
        )
        .unwrap();
        let map = Map::around(None, Some(&outline), &[]).unwrap();
        for p in outline.points() {
            let (x, y) = map.xy(*p);
            assert!(
                (0.0..=WIDTH).contains(&x) && (0.0..=HEIGHT).contains(&y),
                "{x},{y}"
            );
        }
        // About 445 m tall fills 80% of 480 units: under 1.2 m a unit.
        assert!(
            (map.metres_per_unit - 445.0 / 384.0).abs() < 0.05,
            "{}",
            map.metres_per_unit
        );
        let (bar, metres) = map.scale();
        assert_eq!(metres, 100);
        assert!((bar - 100.0 / map.metres_per_unit).abs() < 1e-9);
        // One point alone: a frame 300 m wide around it.
        let one = Map::around(Some(ll(39.9, 116.4)), None, &[]).unwrap();
        assert!((one.metres_per_unit * WIDTH - 300.0).abs() < 1e-6);
        let (x, y) = one.xy(ll(39.9, 116.4));
        assert!((x - WIDTH / 2.0).abs() < 0.01 && (y - HEIGHT / 2.0).abs() < 0.01);
        assert!(Map::around(None, None, &[]).is_none());
    }
}
