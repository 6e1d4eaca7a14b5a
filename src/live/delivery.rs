//! Answering live playlist and part requests the low-latency way: a blocking
//! playlist reload (`_HLS_msn`/`_HLS_part`) and a request for the hinted part
//! are held until the feed has what they ask for.
//!
//! A held request waits on its feed's [`Edge`] watch: one publication per
//! part wakes every request waiting on that feed, each checks its condition
//! and answers or waits again. Nothing polls, and a request dropped by a
//! disconnecting client drops its subscription with it.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::channel::{Channel, Feed};
use crate::media::hls::{self, DirectiveError, Edge};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Malformed or too far ahead: refused at once (400).
    #[error(transparent)]
    BadDirective(#[from] DirectiveError),
    /// Not in memory and not about to be (404).
    #[error("no such part")]
    NotFound,
    /// Held for three target durations without the awaited part (503).
    #[error("the awaited part did not come in time")]
    TimedOut,
}

/// The live media playlist of `feed`, once it satisfies the request's
/// delivery directives (`query` is the request's query string), with the
/// rendition reports of the channel's other renditions.
pub async fn playlist(channel: &Channel, feed: &Feed, query: &str) -> Result<Bytes, DeliveryError> {
    if let Some(low_latency) = feed.low_latency() {
        // Directives are refused only where they are offered (CAN-BLOCK-RELOAD).
        if let Some(awaited) = hls::parse_directives(query)? {
            let edge = feed.edge();
            // An ended playlist answers at once, whatever it is asked.
            if !edge.ended {
                if edge.is_too_far_ahead(awaited, low_latency) {
                    return Err(DirectiveError::TooFarAhead.into());
                }
                wait_for(feed, |edge| edge.satisfies(awaited)).await?;
            }
        }
    }
    Ok(with_rendition_reports(channel, feed))
}

/// A part by its running number; the hinted (next) part is waited for.
pub async fn part(feed: &Feed, number: u64) -> Result<Bytes, DeliveryError> {
    let edge = feed.edge();
    if number > edge.next_part {
        // Only the hinted part is promised; anything later is unknown.
        return Err(DeliveryError::NotFound);
    }
    if number == edge.next_part {
        wait_for(feed, |edge| edge.next_part > number).await?;
    }
    feed.part(number).ok_or(DeliveryError::NotFound)
}

/// Waits until `ready` accepts the feed's edge or the feed ends; gives up
/// after three target durations, as the specification suggests.
async fn wait_for(feed: &Feed, ready: impl Fn(&Edge) -> bool) -> Result<(), DeliveryError> {
    let mut edges = feed.edges();
    let limit = Duration::from_secs(3 * feed.target_duration());
    let deadline = Instant::now() + limit;
    loop {
        {
            let edge = edges.borrow_and_update();
            if ready(&edge) || edge.ended {
                return Ok(());
            }
        }
        match tokio::time::timeout_at(deadline, edges.changed()).await {
            Ok(Ok(())) => {}
            // The feed is gone (it cannot be while we hold it); answer what there is.
            Ok(Err(_)) => return Ok(()),
            Err(_) => {
                feed.note_timeout();
                return Err(DeliveryError::TimedOut);
            }
        }
    }
}

/// The feed's playlist followed by one `EXT-X-RENDITION-REPORT` for each
/// other rendition players can choose, so that a player switching to it can
/// ask for the right part straight away.
fn with_rendition_reports(channel: &Channel, feed: &Feed) -> Bytes {
    let text = feed.live_playlist();
    if feed.low_latency().is_none() || feed.edge().ended {
        return text;
    }
    let reports: String = channel
        .feeds()
        .iter()
        .filter(|other| other.rendition != feed.rendition && other.is_listed())
        .filter_map(|other| {
            let last = other.edge().last_part?;
            let uri = format!("../{}/index.m3u8", other.rendition.as_str());
            Some(hls::render_rendition_report(&uri, last))
        })
        .collect();
    if reports.is_empty() {
        return text;
    }
    let mut out = BytesMut::with_capacity(text.len() + reports.len());
    out.extend_from_slice(&text);
    out.extend_from_slice(reports.as_bytes());
    out.freeze()
}
