//! Where places are: WGS84 points, estate outlines, and the geometry that
//! Open311 filing by coordinates and CAP alert areas need (point in polygon,
//! distance). Estates are small (a few hundred metres across), so a polygon
//! is tested on the plane of its latitudes and longitudes; distances use the
//! haversine formula on a sphere of the Earth's mean radius.

use serde::Serialize;

/// Mean Earth radius in metres (IUGG).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS84 point, held in millionths of a degree (about 0.1 m) so that it
/// is stored and compared exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct LatLon {
    lat_e6: i64,
    lon_e6: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeoError {
    #[error("not a number: {0:?}")]
    NotANumber(String),
    #[error("line {0}: expected \"latitude,longitude\"")]
    BadPair(usize),
    #[error("latitude must lie between -90 and 90")]
    Latitude,
    #[error("longitude must lie between -180 and 180")]
    Longitude,
    #[error("an outline needs at least 3 different points")]
    TooFewPoints,
    #[error("an outline may have at most {0} points")]
    TooManyPoints(usize),
    #[error("the outline is not closed: the last point must repeat the first")]
    NotClosed,
    #[error("the outline encloses no area")]
    NoArea,
    #[error("the outline crosses itself")]
    SelfCrossing,
    #[error("the outline spans more than {0} km")]
    TooLarge(u32),
    #[error("GeoJSON: {0}")]
    GeoJson(String),
}

impl GeoError {
    pub fn message_key(&self) -> &'static str {
        match self {
            GeoError::NotANumber(_) | GeoError::BadPair(_) => "geo.error.bad_pair",
            GeoError::Latitude => "geo.error.latitude",
            GeoError::Longitude => "geo.error.longitude",
            GeoError::TooFewPoints => "geo.error.too_few",
            GeoError::TooManyPoints(_) => "geo.error.too_many",
            GeoError::NotClosed => "geo.error.not_closed",
            GeoError::NoArea => "geo.error.no_area",
            GeoError::SelfCrossing => "geo.error.self_crossing",
            GeoError::TooLarge(_) => "geo.error.too_large",
            GeoError::GeoJson(_) => "geo.error.geojson",
        }
    }
}

impl LatLon {
    pub fn new(lat: f64, lon: f64) -> Result<Self, GeoError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(GeoError::Latitude);
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(GeoError::Longitude);
        }
        Ok(Self {
            lat_e6: (lat * 1e6).round() as i64,
            lon_e6: (lon * 1e6).round() as i64,
        })
    }

    /// From stored millionths of a degree; `None` when out of range.
    pub fn from_e6(lat_e6: i64, lon_e6: i64) -> Option<Self> {
        ((-90_000_000..=90_000_000).contains(&lat_e6)
            && (-180_000_000..=180_000_000).contains(&lon_e6))
        .then_some(Self { lat_e6, lon_e6 })
    }

    /// "39.908722,116.397499" (also with a space or a Chinese comma).
    pub fn parse(raw: &str) -> Result<Self, GeoError> {
        let raw = raw.trim().replace('，', ",");
        let mut parts = raw
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty());
        let (Some(lat), Some(lon), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(GeoError::BadPair(1));
        };
        Self::new(number(lat)?, number(lon)?)
    }

    pub fn lat(&self) -> f64 {
        self.lat_e6 as f64 / 1e6
    }

    pub fn lon(&self) -> f64 {
        self.lon_e6 as f64 / 1e6
    }

    pub fn lat_e6(&self) -> i64 {
        self.lat_e6
    }

    pub fn lon_e6(&self) -> i64 {
        self.lon_e6
    }

    /// Great-circle distance in metres.
    pub fn distance_m(&self, other: &LatLon) -> f64 {
        let (p1, p2) = (self.lat().to_radians(), other.lat().to_radians());
        let dp = p2 - p1;
        let dl = (other.lon() - self.lon()).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
    }
}

impl std::fmt::Display for LatLon {
    /// "39.908722,116.397499": six decimals, the form outlines are typed in.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.6},{:.6}", self.lat(), self.lon())
    }
}

fn number(raw: &str) -> Result<f64, GeoError> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| GeoError::NotANumber(raw.chars().take(20).collect()))
}

/// A closed ring of points (the last repeats the first): an estate's
/// outline, or a CAP alert's polygon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outline(Vec<LatLon>);

impl Outline {
    /// Most points an estate outline may have, closing point included.
    pub const MAX_POINTS: usize = 200;
    /// Widest an estate outline may be.
    pub const MAX_SPAN_KM: u32 = 20;

    /// Points typed one "lat,long" a line, or a GeoJSON Polygon (a bare
    /// geometry, a Feature, or a FeatureCollection of one Feature) whose
    /// coordinates are [long, lat] as GeoJSON has them.
    pub fn parse(raw: &str) -> Result<Self, GeoError> {
        let raw = raw.trim();
        let points = if raw.starts_with('{') {
            geojson_ring(raw)?
        } else {
            raw.lines()
                .map(str::trim)
                .enumerate()
                .filter(|(_, l)| !l.is_empty())
                .map(|(i, l)| {
                    LatLon::parse(l).map_err(|e| match e {
                        GeoError::BadPair(_) => GeoError::BadPair(i + 1),
                        e => e,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        Self::from_points(points, Self::MAX_POINTS, Some(Self::MAX_SPAN_KM))
    }

    /// Checks a ring: closed, 3 to `max - 1` different points, some area, no
    /// crossing edges, and (if `max_span_km`) not wider than that.
    pub fn from_points(
        points: Vec<LatLon>,
        max: usize,
        max_span_km: Option<u32>,
    ) -> Result<Self, GeoError> {
        if points.len() > max {
            return Err(GeoError::TooManyPoints(max));
        }
        if points.len() >= 3 && points.first() != points.last() {
            return Err(GeoError::NotClosed);
        }
        if points.len() < 4 {
            return Err(GeoError::TooFewPoints);
        }
        let ring = Self(points);
        let mut distinct: Vec<&LatLon> = ring.0[..ring.0.len() - 1].iter().collect();
        distinct.sort_by_key(|p| (p.lat_e6, p.lon_e6));
        distinct.dedup();
        if distinct.len() < 3 {
            return Err(GeoError::TooFewPoints);
        }
        if ring.crosses_itself() {
            return Err(GeoError::SelfCrossing);
        }
        if ring.signed_area().abs() < 1e-12 {
            return Err(GeoError::NoArea);
        }
        if let Some(km) = max_span_km {
            let (south_west, north_east) = ring.bounds();
            if south_west.distance_m(&north_east) > f64::from(km) * 1000.0 {
                return Err(GeoError::TooLarge(km));
            }
        }
        Ok(ring)
    }

    pub fn points(&self) -> &[LatLon] {
        &self.0
    }

    /// Twice the signed area in square degrees (shoelace), x = long, y = lat.
    fn signed_area(&self) -> f64 {
        self.0
            .windows(2)
            .map(|w| w[0].lon() * w[1].lat() - w[1].lon() * w[0].lat())
            .sum()
    }

    fn crosses_itself(&self) -> bool {
        let edges: Vec<(LatLon, LatLon)> = self.0.windows(2).map(|w| (w[0], w[1])).collect();
        let n = edges.len();
        for i in 0..n {
            for j in i + 1..n {
                // Neighbouring edges share a point by construction.
                if j == i + 1 || (i == 0 && j == n - 1) {
                    continue;
                }
                if segments_cross(edges[i], edges[j]) {
                    return true;
                }
            }
        }
        false
    }

    /// South-west and north-east corners.
    pub fn bounds(&self) -> (LatLon, LatLon) {
        let lat_min = self.0.iter().map(|p| p.lat_e6).min().unwrap_or(0);
        let lat_max = self.0.iter().map(|p| p.lat_e6).max().unwrap_or(0);
        let lon_min = self.0.iter().map(|p| p.lon_e6).min().unwrap_or(0);
        let lon_max = self.0.iter().map(|p| p.lon_e6).max().unwrap_or(0);
        (
            LatLon {
                lat_e6: lat_min,
                lon_e6: lon_min,
            },
            LatLon {
                lat_e6: lat_max,
                lon_e6: lon_max,
            },
        )
    }

    /// Whether `p` lies inside (or on the edge of) the ring: even-odd rule.
    pub fn contains(&self, p: &LatLon) -> bool {
        let (x, y) = (p.lon_e6, p.lat_e6);
        let mut inside = false;
        for w in self.0.windows(2) {
            let (a, b) = (w[0], w[1]);
            if on_segment((a, b), *p) {
                return true;
            }
            let (xa, ya, xb, yb) = (a.lon_e6, a.lat_e6, b.lon_e6, b.lat_e6);
            if (ya > y) != (yb > y) {
                // x of the edge at height y, compared without dividing.
                let lhs = (x - xa) as i128 * (yb - ya) as i128;
                let rhs = (xb - xa) as i128 * (y - ya) as i128;
                if (yb > ya && lhs < rhs) || (yb < ya && lhs > rhs) {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// The mean of the ring's points (closing point once): a location for
    /// an estate given by its outline alone.
    pub fn centre(&self) -> LatLon {
        let ring = &self.0[..self.0.len() - 1];
        let n = ring.len() as i64;
        LatLon {
            lat_e6: ring.iter().map(|p| p.lat_e6).sum::<i64>() / n,
            lon_e6: ring.iter().map(|p| p.lon_e6).sum::<i64>() / n,
        }
    }

    /// One "lat,long" a line, as stored and as shown in the form.
    pub fn to_lines(&self) -> String {
        self.0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn cross(o: LatLon, a: LatLon, b: LatLon) -> i128 {
    (a.lon_e6 - o.lon_e6) as i128 * (b.lat_e6 - o.lat_e6) as i128
        - (a.lat_e6 - o.lat_e6) as i128 * (b.lon_e6 - o.lon_e6) as i128
}

fn on_segment((a, b): (LatLon, LatLon), p: LatLon) -> bool {
    cross(a, b, p) == 0
        && p.lon_e6 >= a.lon_e6.min(b.lon_e6)
        && p.lon_e6 <= a.lon_e6.max(b.lon_e6)
        && p.lat_e6 >= a.lat_e6.min(b.lat_e6)
        && p.lat_e6 <= a.lat_e6.max(b.lat_e6)
}

/// Whether two segments meet (touching counts).
fn segments_cross(s: (LatLon, LatLon), t: (LatLon, LatLon)) -> bool {
    let d1 = cross(t.0, t.1, s.0).signum();
    let d2 = cross(t.0, t.1, s.1).signum();
    let d3 = cross(s.0, s.1, t.0).signum();
    let d4 = cross(s.0, s.1, t.1).signum();
    if d1 * d2 < 0 && d3 * d4 < 0 {
        return true;
    }
    on_segment(t, s.0) || on_segment(t, s.1) || on_segment(s, t.0) || on_segment(s, t.1)
}

fn geojson_ring(raw: &str) -> Result<Vec<LatLon>, GeoError> {
    let bad = |m: &str| GeoError::GeoJson(m.to_owned());
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| GeoError::GeoJson(e.to_string()))?;
    let mut geometry = &value;
    if geometry["type"] == "FeatureCollection" {
        match geometry["features"].as_array().map(Vec::as_slice) {
            Some([one]) => geometry = one,
            _ => return Err(bad("a FeatureCollection must hold exactly one Feature")),
        }
    }
    if geometry["type"] == "Feature" {
        geometry = &geometry["geometry"];
    }
    if geometry["type"] != "Polygon" {
        return Err(bad("expected a Polygon"));
    }
    let rings = geometry["coordinates"]
        .as_array()
        .ok_or_else(|| bad("a Polygon needs coordinates"))?;
    let [outer] = rings.as_slice() else {
        return Err(bad("expected one ring (no holes)"));
    };
    let positions = outer
        .as_array()
        .ok_or_else(|| bad("a ring is a list of positions"))?;
    if positions.len() > Outline::MAX_POINTS {
        return Err(GeoError::TooManyPoints(Outline::MAX_POINTS));
    }
    positions
        .iter()
        .map(|p| match p.as_array().map(Vec::as_slice) {
            Some([lon, lat, ..]) => match (lon.as_f64(), lat.as_f64()) {
                (Some(lon), Some(lat)) => LatLon::new(lat, lon),
                _ => Err(bad("positions are [longitude, latitude] numbers")),
            },
            _ => Err(bad("positions are [longitude, latitude] numbers")),
        })
        .collect()
}

/// A circle: CAP's "lat,long radius" with the radius in kilometres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Circle {
    pub centre: LatLon,
    pub radius_m: f64,
}

impl Circle {
    pub fn contains(&self, p: &LatLon) -> bool {
        self.centre.distance_m(p) <= self.radius_m
    }
}

/// An estate's place: its location (where requests by coordinates and CAP
/// areas are matched), its outline if one was drawn, and its administrative
/// division code if known (matched against CAP geocodes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EstateGeography {
    pub location: LatLon,
    pub outline: Option<Outline>,
    pub geocode: Option<String>,
}

impl EstateGeography {
    /// An administrative division code: 2 to 12 digits (China's are 6, 9 or 12).
    pub fn parse_geocode(raw: &str) -> Option<Result<String, GeoError>> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        Some(
            if (2..=12).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit()) {
                Ok(raw.to_owned())
            } else {
                Err(GeoError::NotANumber(raw.chars().take(20).collect()))
            },
        )
    }

    /// Whether `p` is in the estate: inside its outline, or (without one)
    /// within `radius_m` of its location.
    pub fn contains(&self, p: &LatLon, radius_m: f64) -> bool {
        match &self.outline {
            Some(outline) => outline.contains(p),
            None => self.location.distance_m(p) <= radius_m,
        }
    }

    /// Whether a region code covers this estate: equal, or a coarser code
    /// of the same hierarchy (`110000` covers `110105`, `110105` covers
    /// `110105001`): trailing zero pairs of the region's code are dropped
    /// and what is left must begin the estate's code.
    pub fn in_region(&self, region: &str) -> bool {
        let Some(own) = &self.geocode else {
            return false;
        };
        let region = region.trim();
        if region.is_empty() || !region.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        if own == region {
            return true;
        }
        let mut stem = region;
        while stem.len() > 2 && stem.ends_with("00") {
            stem = &stem[..stem.len() - 2];
        }
        own.starts_with(stem)
    }
}

/// Which of `places` a point falls in: the first whose outline contains
/// it, else the nearest whose location is within `within_m`. Returns the
/// index into `places` and the distance (0 when inside an outline).
pub fn locate<'a, T>(
    p: &LatLon,
    places: impl IntoIterator<Item = (&'a EstateGeography, T)>,
    within_m: f64,
) -> Option<(T, f64)> {
    let mut nearest: Option<(T, f64)> = None;
    for (geo, key) in places {
        if geo.outline.as_ref().is_some_and(|o| o.contains(p)) {
            return Some((key, 0.0));
        }
        let d = geo.location.distance_m(p);
        if d <= within_m && nearest.as_ref().is_none_or(|(_, best)| d < *best) {
            nearest = Some((key, d));
        }
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).unwrap()
    }

    /// A 0.004° square (about 440 m × 340 m) near Tian'anmen.
    fn square() -> Outline {
        Outline::parse(
            "39.900000,116.390000\n39.904000,116.390000\n39.904000,116.394000\n39.900000,116.394000\n39.900000,116.390000",
        )
        .unwrap()
    }

    #[test]
    fn points_are_checked_and_kept_to_a_millionth() {
        assert_eq!(
            ll(39.9087224, 116.3974996).to_string(),
            "39.908722,116.397500"
        );
        assert_eq!(LatLon::parse("39.9，116.4").unwrap(), ll(39.9, 116.4));
        assert_eq!(LatLon::parse(" 39.9 116.4 ").unwrap(), ll(39.9, 116.4));
        assert_eq!(LatLon::new(91.0, 0.0), Err(GeoError::Latitude));
        assert_eq!(LatLon::new(0.0, -180.5), Err(GeoError::Longitude));
        assert_eq!(LatLon::new(f64::NAN, 0.0), Err(GeoError::Latitude));
        assert!(LatLon::parse("39.9").is_err());
        assert!(LatLon::parse("39.9,116.4,3").is_err());
        assert!(LatLon::parse("north,east").is_err());
        assert!(LatLon::from_e6(90_000_001, 0).is_none());
    }

    #[test]
    fn distances_match_known_figures() {
        // One degree of latitude is about 111.2 km.
        let d = ll(39.0, 116.0).distance_m(&ll(40.0, 116.0));
        assert!((d - 111_195.0).abs() < 50.0, "{d}");
        // Beijing to Shanghai, about 1,067 km.
        let d = ll(39.9042, 116.4074).distance_m(&ll(31.2304, 121.4737));
        assert!((d / 1000.0 - 1067.0).abs() < 5.0, "{d}");
        assert_eq!(ll(10.0, 10.0).distance_m(&ll(10.0, 10.0)), 0.0);
    }

    #[test]
    fn outlines_must_be_closed_sane_rings() {
        let open = "39.9,116.39\n39.904,116.39\n39.904,116.394";
        assert_eq!(Outline::parse(open), Err(GeoError::NotClosed));
        assert_eq!(
            Outline::parse("39.9,116.39\n39.904,116.39\n39.9,116.39"),
            Err(GeoError::TooFewPoints)
        );
        let flat = "39.9,116.39\n39.901,116.39\n39.902,116.39\n39.9,116.39";
        assert_eq!(Outline::parse(flat), Err(GeoError::NoArea));
        let bow_tie = "39.9,116.39\n39.904,116.394\n39.904,116.39\n39.9,116.394\n39.9,116.39";
        assert_eq!(Outline::parse(bow_tie), Err(GeoError::SelfCrossing));
        let huge = "39,116\n40,116\n40,117\n39,116";
        assert_eq!(Outline::parse(huge), Err(GeoError::TooLarge(20)));
        assert_eq!(
            Outline::parse("39.9,116.39\n\nabc\n"),
            Err(GeoError::BadPair(3))
        );
        assert_eq!(
            Outline::parse("39.9,116.39\nx,116.39"),
            Err(GeoError::NotANumber("x".into()))
        );
        let many: String = (0..=Outline::MAX_POINTS)
            .map(|i| format!("39.9,{:.6}\n", 116.0 + i as f64 * 1e-5))
            .collect();
        assert_eq!(
            Outline::parse(&many),
            Err(GeoError::TooManyPoints(Outline::MAX_POINTS))
        );
        assert_eq!(square().points().len(), 5);
        assert_eq!(Outline::parse(&square().to_lines()).unwrap(), square());
    }

    #[test]
    fn geojson_polygons_are_long_lat() {
        let feature = r#"{"type":"Feature","properties":{},"geometry":{"type":"Polygon",
            "coordinates":[[[116.39,39.9],[116.39,39.904],[116.394,39.904],[116.394,39.9],[116.39,39.9]]]}}"#;
        let outline = Outline::parse(feature).unwrap();
        assert!(outline.contains(&ll(39.902, 116.392)));
        assert_eq!(outline.points()[1], ll(39.904, 116.39));
        let collection = format!(r#"{{"type":"FeatureCollection","features":[{feature}]}}"#);
        assert_eq!(Outline::parse(&collection).unwrap(), outline);
        assert!(matches!(
            Outline::parse(r#"{"type":"Point","coordinates":[116.39,39.9]}"#),
            Err(GeoError::GeoJson(_))
        ));
        assert!(matches!(
            Outline::parse("{not json"),
            Err(GeoError::GeoJson(_))
        ));
        assert!(matches!(
            Outline::parse(r#"{"type":"Polygon","coordinates":[[[116.39,"x"]]]}"#),
            Err(GeoError::GeoJson(_))
        ));
    }

    #[test]
    fn point_in_polygon() {
        let s = square();
        assert!(s.contains(&ll(39.902, 116.392)));
        assert!(s.contains(&ll(39.900, 116.392)), "on an edge");
        assert!(s.contains(&ll(39.904, 116.394)), "on a corner");
        assert!(!s.contains(&ll(39.905, 116.392)));
        assert!(!s.contains(&ll(39.902, 116.3941)));
        // A concave L: the notch is outside.
        let l = Outline::parse("0,0\n0,0.002\n0.001,0.002\n0.001,0.001\n0.002,0.001\n0.002,0\n0,0")
            .unwrap();
        assert!(l.contains(&ll(0.0005, 0.0015)));
        assert!(l.contains(&ll(0.0015, 0.0005)));
        assert!(!l.contains(&ll(0.0015, 0.0015)));
        assert_eq!(s.centre(), ll(39.902, 116.392));
    }

    #[test]
    fn locating_prefers_an_outline_then_the_nearest_within_reach() {
        let a = EstateGeography {
            location: ll(39.902, 116.392),
            outline: Some(square()),
            geocode: None,
        };
        let b = EstateGeography {
            location: ll(39.910, 116.392),
            outline: None,
            geocode: None,
        };
        let places = || [(&a, "a"), (&b, "b")];
        assert_eq!(
            locate(&ll(39.903, 116.393), places(), 300.0).unwrap().0,
            "a"
        );
        // 100 m north of b: b, though a's edge is nearer than a's centre.
        let (key, d) = locate(&ll(39.9109, 116.392), places(), 300.0).unwrap();
        assert_eq!(key, "b");
        assert!((d - 100.0).abs() < 1.0, "{d}");
        assert!(locate(&ll(39.95, 116.392), places(), 300.0).is_none());
        assert!(b.contains(&ll(39.9109, 116.392), 300.0));
        assert!(!b.contains(&ll(39.9109, 116.392), 50.0));
    }

    #[test]
    fn region_codes_cover_their_subdivisions() {
        let g = EstateGeography {
            location: ll(39.9, 116.4),
            outline: None,
            geocode: Some("110105001".into()),
        };
        assert!(g.in_region("110105001"));
        assert!(g.in_region("110105"));
        assert!(g.in_region("110000"));
        assert!(!g.in_region("110106"));
        assert!(!g.in_region("120000"));
        assert!(!g.in_region(""));
        assert!(!g.in_region("11x"));
        assert!(EstateGeography::parse_geocode("").is_none());
        assert!(EstateGeography::parse_geocode("110105").unwrap().is_ok());
        assert!(EstateGeography::parse_geocode("北京").unwrap().is_err());
    }
}
