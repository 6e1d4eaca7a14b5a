//! Where an Open311 request goes: the estate (and building) a client names
//! by `address_id`, by its coordinates (`lat`/`long`, as city apps send
//! them) or by `address_string`. Coordinates fall in the estate whose
//! outline holds them, else the nearest estate within
//! `geography.open311_within_m`; names match estates and buildings
//! exactly, after Unicode compatibility folding (full-width digits),
//! case folding and dropping spaces.

use unicode_normalization::UnicodeNormalization;

use crate::domain::geo::{locate, GeoError, LatLon};
use crate::domain::{BuildingId, Estate, EstateId};
use crate::store::{Store, StoreError};

/// What a request says about its place, as sent.
pub struct Asked<'a> {
    pub address_id: Option<&'a str>,
    pub address_string: Option<&'a str>,
    pub lat: Option<&'a str>,
    pub long: Option<&'a str>,
}

/// Where the request goes.
#[derive(Debug)]
pub struct Found {
    pub estate: Estate,
    pub building: Option<BuildingId>,
    /// The point the client sent, kept on the record.
    pub point: Option<LatLon>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("lat and long go together: send both, in decimal degrees (WGS84)")]
    HalfAPoint,
    #[error("{0} must be a number of decimal degrees (WGS84), e.g. 39.908722")]
    NotANumber(&'static str),
    #[error("lat must lie between -90 and 90")]
    Latitude,
    #[error("long must lie between -180 and 180")]
    Longitude,
    #[error("a location is required: lat and long, address_string or address_id")]
    Nowhere,
    #[error("address_id names no estate")]
    UnknownEstate,
    #[error("no estate lies at lat/long or within {within_m} m of it{also}")]
    NothingNear { within_m: u32, also: &'static str },
    #[error("address_string names no estate or building here")]
    UnknownName,
    #[error("address_string may be at most {0} characters")]
    NameTooLong(usize),
    #[error(
        "address_string matches {} places ({}): add the estate's name, or send address_id or lat/long",
        .0.len(),
        .0.join("; ")
    )]
    Ambiguous(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Longest `address_string` looked at (a street address fits easily).
pub const MAX_ADDRESS: usize = 200;

/// At most this many places are named when a name is ambiguous.
const NAMED_AT_MOST: usize = 5;

/// A coordinate as sent: a plain decimal number, not too long to read.
fn degrees(raw: &str, name: &'static str) -> Result<f64, PlaceError> {
    let raw = raw.trim();
    if raw.len() > 32 {
        return Err(PlaceError::NotANumber(name));
    }
    raw.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or(PlaceError::NotANumber(name))
}

/// The point of `lat` and `long`, if the request sent one.
pub fn point_of(lat: Option<&str>, long: Option<&str>) -> Result<Option<LatLon>, PlaceError> {
    fn given(v: Option<&str>) -> Option<&str> {
        v.filter(|v| !v.trim().is_empty())
    }
    match (given(lat), given(long)) {
        (None, None) => Ok(None),
        (Some(lat), Some(long)) => {
            let (lat, long) = (degrees(lat, "lat")?, degrees(long, "long")?);
            LatLon::new(lat, long).map(Some).map_err(|e| match e {
                GeoError::Longitude => PlaceError::Longitude,
                _ => PlaceError::Latitude,
            })
        }
        _ => Err(PlaceError::HalfAPoint),
    }
}

/// A name as compared: compatibility-folded (full-width "３号楼" is
/// "3号楼"), lower case, without spaces.
pub fn normalised(name: &str) -> String {
    name.nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Finds the place of a request; see the module's documentation. A name
/// that several places share counts only the ones `reach` accepts (the
/// estates the caller's key files into), if any.
pub async fn find(
    store: &dyn Store,
    asked: &Asked<'_>,
    within_m: f64,
    reach: &(dyn Fn(&Estate) -> bool + Sync),
) -> Result<Found, PlaceError> {
    let point = point_of(asked.lat, asked.long)?;
    let name = asked
        .address_string
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if let Some(name) = name {
        if name.chars().count() > MAX_ADDRESS {
            return Err(PlaceError::NameTooLong(MAX_ADDRESS));
        }
    }
    if let Some(id) = asked.address_id.map(str::trim).filter(|i| !i.is_empty()) {
        let id = id.parse::<i64>().map_err(|_| PlaceError::UnknownEstate)?;
        let estate = match store.estate(EstateId(id)).await {
            Ok(estate) => estate,
            Err(StoreError::NotFound) => return Err(PlaceError::UnknownEstate),
            Err(e) => return Err(e.into()),
        };
        return found_in(store, estate, name, point).await;
    }
    if let Some(p) = point {
        let places = store.estate_geographies().await?;
        let located = locate(&p, places.iter().map(|(e, _, g)| (g, *e)), within_m);
        if let Some((estate, _)) = located {
            let estate = store.estate(estate).await?;
            return found_in(store, estate, name, point).await;
        }
        // An estate whose place nobody has set yet is still found by name.
        let Some(name) = name else {
            return Err(PlaceError::NothingNear {
                within_m: within_m.max(0.0) as u32,
                also: "",
            });
        };
        return match by_name(store, name, reach).await {
            Err(PlaceError::UnknownName) => Err(PlaceError::NothingNear {
                within_m: within_m.max(0.0) as u32,
                also: ", and address_string names no estate or building here",
            }),
            Ok(mut found) => {
                found.point = point;
                Ok(found)
            }
            Err(e) => Err(e),
        };
    }
    match name {
        Some(name) => by_name(store, name, reach).await,
        None => Err(PlaceError::Nowhere),
    }
}

/// The request goes to `estate`; `name`, if it is one of the estate's
/// buildings (alone or after the estate's name), picks the building.
async fn found_in(
    store: &dyn Store,
    estate: Estate,
    name: Option<&str>,
    point: Option<LatLon>,
) -> Result<Found, PlaceError> {
    let mut building = None;
    if let Some(name) = name {
        let wanted = normalised(name);
        let estate_name = normalised(&estate.name);
        building = store
            .list_buildings(estate.id)
            .await?
            .into_iter()
            .find(|b| {
                let own = normalised(&b.name);
                wanted == own || wanted == format!("{estate_name}{own}")
            })
            .map(|b| b.id);
    }
    Ok(Found {
        estate,
        building,
        point,
    })
}

/// The one estate or building `name` names, among all of them.
async fn by_name(
    store: &dyn Store,
    name: &str,
    reach: &(dyn Fn(&Estate) -> bool + Sync),
) -> Result<Found, PlaceError> {
    let wanted = normalised(name);
    let mut matches: Vec<(Estate, Option<(BuildingId, String)>)> = Vec::new();
    for community in store.list_communities().await? {
        for estate in store.list_estates(community.id).await? {
            let estate_name = normalised(&estate.name);
            if estate_name == wanted {
                matches.push((estate.clone(), None));
            }
            for building in store.list_buildings(estate.id).await? {
                let own = normalised(&building.name);
                if own == wanted || format!("{estate_name}{own}") == wanted {
                    matches.push((estate.clone(), Some((building.id, building.name))));
                }
            }
        }
    }
    if matches.iter().any(|(estate, _)| reach(estate)) {
        matches.retain(|(estate, _)| reach(estate));
    }
    match matches.len() {
        0 => Err(PlaceError::UnknownName),
        1 => {
            let (estate, building) = matches.remove(0);
            Ok(Found {
                estate,
                building: building.map(|(id, _)| id),
                point: None,
            })
        }
        _ => Err(PlaceError::Ambiguous(
            matches
                .iter()
                .take(NAMED_AT_MOST)
                .map(|(estate, building)| match building {
                    Some((_, b)) => format!("{} {b}", estate.name),
                    None => estate.name.clone(),
                })
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_folded_and_without_spaces() {
        assert_eq!(normalised(" 阳光花园 ３号楼 "), "阳光花园3号楼");
        assert_eq!(normalised("Sunny Garden"), "sunnygarden");
        assert_eq!(normalised("翠竹苑"), normalised("翠竹苑\u{3000}"));
    }

    #[test]
    fn coordinates_are_both_numbers_in_range() {
        let p = point_of(Some("39.9"), Some(" 116.4 ")).unwrap().unwrap();
        assert_eq!(p.to_string(), "39.900000,116.400000");
        assert!(point_of(None, Some("")).unwrap().is_none());
        assert!(matches!(
            point_of(Some("39.9"), None),
            Err(PlaceError::HalfAPoint)
        ));
        assert!(matches!(
            point_of(Some("north"), Some("116")),
            Err(PlaceError::NotANumber("lat"))
        ));
        assert!(matches!(
            point_of(Some("39"), Some("NaN")),
            Err(PlaceError::NotANumber("long"))
        ));
        assert!(matches!(
            point_of(Some("91"), Some("116")),
            Err(PlaceError::Latitude)
        ));
        assert!(matches!(
            point_of(Some("39"), Some("-181")),
            Err(PlaceError::Longitude)
        ));
        let long = "1".repeat(40);
        assert!(point_of(Some(&long), Some("1")).is_err());
    }
}
