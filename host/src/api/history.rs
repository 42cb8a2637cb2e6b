//! `GET /api/sessions/{id}/history?since=…`: a session's status changes, messages per hour and
//! memory (see [`crate::history`]), for the dashboard's plots.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::error::{ApiError, PathArgs, QueryArgs};
use super::state::ApiState;
use crate::store::history::{History, MemoryBucket};

/// The most memory points one answer carries; more buckets are merged (mean weighted by
/// samples, max of maxes).
pub const MAX_MEMORY_POINTS: usize = 720;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// From when: an instant (RFC 3339, `2027-01-01T10:00:00Z`) or a span back from now (`30m`,
    /// `24h`, `7d`). Default `24h`.
    since: Option<String>,
}

/// `since` as an instant: RFC 3339, or a duration back from `now`.
fn parse_since(since: Option<&str>, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    let Some(s) = since.map(str::trim) else { return Ok(now - chrono::Duration::hours(24)) };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || {
        ApiError::bad_request(format!(
            "bad `since` `{}`: give an instant (`2027-01-01T10:00:00Z`) or a span back from now \
             (`30m`, `24h`, `7d`); history is kept 30 days",
            s.escape_debug()
        ))
    };
    let d = crate::duration::parse_duration(s).map_err(|_| bad())?;
    chrono::Duration::from_std(d).ok().and_then(|d| now.checked_sub_signed(d)).ok_or_else(bad)
}

/// Merges consecutive buckets so at most `max` remain.
fn downsample(memory: Vec<MemoryBucket>, max: usize) -> Vec<MemoryBucket> {
    if memory.len() <= max {
        return memory;
    }
    let per = memory.len().div_ceil(max);
    memory
        .chunks(per)
        .map(|c| {
            let samples: i64 = c.iter().map(|b| b.samples).sum();
            let sum: i128 = c.iter().map(|b| b.avg_bytes as i128 * b.samples as i128).sum();
            MemoryBucket {
                at: c[0].at,
                avg_bytes: (sum / samples.max(1) as i128) as i64,
                max_bytes: c.iter().map(|b| b.max_bytes).max().unwrap_or(0),
                samples,
            }
        })
        .collect()
}

/// The session's history: status changes, messages sent and delivered per hour, and its
/// browser's memory (kept 30 days).
///
/// Recorded by the host as it runs: each status change; per hour, the messages the session
/// sent and those of them delivered to the recipient's phone (ack 2 or more); its browser's
/// memory (PSS of the process tree) sampled every `sessions.resources_interval`, as one point
/// (mean and max) per `[history] memory_step` (default 5 minutes; at most 720 points per answer,
/// merged when more). Older than `[history] keep` (default 30 days) is pruned. An owner token
/// reaches the history of its owner's sessions only.
#[utoipa::path(get, path = "/api/sessions/{id}/history", tag = "sessions", operation_id = "sessionHistory",
    params(("id" = String, Path, description = "The session id."), HistoryQuery),
    responses(
        (status = 200, description = "The history from `since` on.", body = History),
        (status = 400, description = "Bad session id, or a `since` that is neither an instant nor a span.", body = super::doc::ErrorBody),
        (status = 404, description = "No such session.", body = super::doc::ErrorBody),
    ))]
pub(crate) async fn history(
    State(state): State<ApiState>,
    PathArgs(id): PathArgs<String>,
    QueryArgs(q): QueryArgs<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    let id = crate::sessions::SessionId::parse(&id)?;
    let since = parse_since(q.since.as_deref(), state.inner.clock.now())?;
    state.inner.sessions.get(&id)?;
    let mut h = state.inner.store.history(&id, since).await?;
    h.memory = downsample(std::mem::take(&mut h.memory), MAX_MEMORY_POINTS);
    Ok(Json(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_an_instant_or_a_span_back() {
        let now: DateTime<Utc> = "2027-01-02T10:00:00Z".parse().unwrap();
        assert_eq!(parse_since(None, now).unwrap(), "2027-01-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(parse_since(Some("2h"), now).unwrap(), "2027-01-02T08:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(
            parse_since(Some("2027-01-02T09:30:00+01:00"), now).unwrap(),
            "2027-01-02T08:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let e = parse_since(Some("yesterday"), now).unwrap_err();
        assert!(e.message.contains("bad `since` `yesterday`"), "{}", e.message);
    }

    #[test]
    fn many_buckets_are_merged_keeping_the_mean_and_the_max() {
        let t0: DateTime<Utc> = "2027-01-01T00:00:00Z".parse().unwrap();
        let b = |i: i64, avg: i64, max: i64, samples: i64| MemoryBucket {
            at: t0 + chrono::Duration::minutes(i),
            avg_bytes: avg,
            max_bytes: max,
            samples,
        };
        let few = vec![b(0, 10, 10, 1), b(1, 20, 20, 1)];
        assert_eq!(downsample(few.clone(), 2), few);
        let out = downsample(vec![b(0, 10, 12, 1), b(1, 40, 50, 3), b(2, 7, 7, 1)], 2);
        assert_eq!(out, vec![b(0, 32, 50, 4), b(2, 7, 7, 1)]);
    }
}
