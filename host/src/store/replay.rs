//! `--from`/`--to`: turning a time window into a revision window for one base key. On etcd this
//! walks the status records back (`prev_rev`, skipping whole days with `last_prev_day_rev`), as
//! pyaviso does, but without its multi-day bug (P7): a day is skipped only when all of it lies
//! outside the window. The embedded store keeps each write's time and answers directly.

use chrono::{NaiveDateTime, Timelike};
use serde_json::Value;

use super::{Store, StoreError, status};

/// The revisions to replay: from `first` on, and up to `last` when the window has an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub first: u64,
    pub last: Option<u64>,
}

/// One status record as the walk sees it.
#[derive(Debug, Clone, PartialEq)]
struct Status {
    revision: u64,
    date: Option<NaiveDateTime>,
    prev_rev: Option<u64>,
    last_prev_day_rev: Option<u64>,
}

/// The revision window of `[from, to]` under `base`; `None` when nothing was written in it
/// (or nothing at all when there is no `to`... then replay starts with what comes next).
pub async fn window(
    store: &Store,
    base: &str,
    from: NaiveDateTime,
    to: Option<NaiveDateTime>,
) -> Result<Option<Window>, StoreError> {
    match store {
        Store::File(file) => {
            let seconds =
                |t: NaiveDateTime| t.and_utc().timestamp() as f64 + f64::from(t.nanosecond()) / 1e9;
            Ok(
                match file.revisions_between(base, seconds(from), to.map(seconds))? {
                    Some((first, last)) => Some(Window {
                        first,
                        last: to.map(|_| last),
                    }),
                    None if to.is_none() => Some(Window {
                        first: file.revision()? + 1,
                        last: None,
                    }),
                    None => None,
                },
            )
        }
        Store::EtcdRest(_) | Store::EtcdGrpc(_) => {
            let Some(current) = store.get(base).await? else {
                return Ok(if to.is_none() {
                    Some(Window {
                        first: store.revision().await? + 1,
                        last: None,
                    })
                } else {
                    None
                });
            };
            let mut fetch = async |revision: u64| -> Result<Status, StoreError> {
                Ok(match store.get_at(base, revision).await? {
                    Some(kv) => parse(kv.mod_revision, &kv.value),
                    None => Status {
                        revision,
                        date: None,
                        prev_rev: None,
                        last_prev_day_rev: None,
                    },
                })
            };
            let first = parse(current.mod_revision, &current.value);
            walk(base, first, from, to, &mut fetch).await
        }
    }
}

fn parse(revision: u64, value: &[u8]) -> Status {
    let json: Value = serde_json::from_slice(value).unwrap_or(Value::Null);
    let number = |field: &str| {
        json.get(field).and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    };
    Status {
        revision,
        date: json
            .get("date_time")
            .and_then(Value::as_str)
            .and_then(status::parse_date_time),
        prev_rev: number("prev_rev"),
        last_prev_day_rev: number("last_prev_day_rev"),
    }
}

/// The walk back from the newest status `newest`.
async fn walk(
    base: &str,
    newest: Status,
    from: NaiveDateTime,
    to: Option<NaiveDateTime>,
    fetch: &mut impl AsyncFnMut(u64) -> Result<Status, StoreError>,
) -> Result<Option<Window>, StoreError> {
    let mut status = newest;
    let mut last = None;
    while let Some(date) = status.date {
        if last.is_none() && to.is_none_or(|t| date <= t) {
            last = Some(status.revision);
        }
        if date <= from {
            break;
        }
        let Some(prev_rev) = status.prev_rev else {
            break;
        };
        // A whole day can be skipped when the window's start is on an earlier day and either
        // the window's end was already found or lies on an earlier day too.
        let day_after_from = date.date() > from.date();
        let end_settled = last.is_some() || to.is_some_and(|t| date.date() > t.date());
        let next = match status.last_prev_day_rev {
            Some(day_rev) if day_after_from && end_settled => day_rev,
            _ => prev_rev,
        };
        // Any notifier can write a status record: a link that does not go back (0 means
        // "latest" to etcd; a cycle; a later revision) would make the walk go on for ever.
        if next == 0 || next >= status.revision {
            return Err(StoreError::new(format!(
                "the status records of {base} are broken: the one at revision {} points back to revision {next}; replay with --from/--to cannot go on (the history is as some notifier wrote it; listen without --from/--to, or from a later time)",
                status.revision
            )));
        }
        status = fetch(next).await?;
    }
    // The walk stopped at the last status at or before `from`, or at the start of history.
    let first = match status.date {
        Some(date) if date <= from => status.revision + 1,
        _ => status.revision,
    };
    Ok(match (to, last) {
        (None, _) => Some(Window { first, last: None }),
        (Some(_), Some(last)) if last >= first => Some(Window {
            first,
            last: Some(last),
        }),
        (Some(_), _) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn at(text: &str) -> NaiveDateTime {
        status::parse_date_time(text).unwrap()
    }

    /// Statuses at revisions 2.. with these dates, linked as pyaviso links them.
    fn history(dates: &[&str]) -> HashMap<u64, Status> {
        let mut statuses: HashMap<u64, Status> = HashMap::new();
        let mut previous: Option<Status> = None;
        for (i, date) in dates.iter().enumerate() {
            let revision = i as u64 + 2;
            let date = at(date);
            let (prev_rev, last_prev_day_rev) = match &previous {
                None => (None, None),
                Some(p) if p.date.unwrap().date() == date.date() => {
                    (Some(p.revision), p.last_prev_day_rev)
                }
                Some(p) => (Some(p.revision), Some(p.revision)),
            };
            let status = Status {
                revision,
                date: Some(date),
                prev_rev,
                last_prev_day_rev,
            };
            statuses.insert(revision, status.clone());
            previous = Some(status);
        }
        statuses
    }

    async fn window_of(dates: &[&str], from: &str, to: Option<&str>) -> Option<Window> {
        let statuses = history(dates);
        let newest = statuses[&(dates.len() as u64 + 1)].clone();
        let mut fetch =
            async |revision: u64| -> Result<Status, StoreError> { Ok(statuses[&revision].clone()) };
        walk("/base/", newest, at(from), to.map(at), &mut fetch)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_status_chain_that_does_not_go_back_is_an_error_not_an_endless_walk() {
        for (prev_rev, last_prev_day_rev) in [(0, None), (7, None), (9, None), (5, Some(7))] {
            let newest = Status {
                revision: 7,
                date: Some(at("2021-01-05T00:00:00.0Z")),
                prev_rev: Some(prev_rev),
                last_prev_day_rev,
            };
            let mut fetch = async |revision: u64| -> Result<Status, StoreError> {
                Ok(Status {
                    revision,
                    ..newest.clone()
                })
            };
            let from = at("2021-01-01T00:00:00.0Z");
            let error = walk("/base/", newest.clone(), from, None, &mut fetch)
                .await
                .unwrap_err();
            assert!(
                error.message.starts_with(
                    "the status records of /base/ are broken: the one at revision 7 points back to revision"
                ),
                "{error}"
            );
        }
    }

    #[tokio::test]
    async fn windows_within_one_day() {
        let day = [
            "2021-01-01T10:00:00.0Z",
            "2021-01-01T11:00:00.0Z",
            "2021-01-01T12:00:00.0Z",
            "2021-01-01T13:00:00.0Z",
        ];
        // Revisions 2..=5 at 10, 11, 12, 13 o'clock.
        assert_eq!(
            window_of(
                &day,
                "2021-01-01T10:30:00.0Z",
                Some("2021-01-01T12:30:00.0Z")
            )
            .await,
            Some(Window {
                first: 3,
                last: Some(4)
            })
        );
        assert_eq!(
            window_of(&day, "2021-01-01T10:30:00.0Z", None).await,
            Some(Window {
                first: 3,
                last: None
            })
        );
        assert_eq!(
            window_of(&day, "2021-01-01T09:00:00.0Z", None).await,
            Some(Window {
                first: 2,
                last: None
            })
        );
        assert_eq!(
            window_of(&day, "2021-01-01T14:00:00.0Z", None).await,
            Some(Window {
                first: 6,
                last: None
            })
        );
        assert_eq!(
            window_of(
                &day,
                "2021-01-01T11:10:00.0Z",
                Some("2021-01-01T11:20:00.0Z")
            )
            .await,
            None
        );
    }

    /// pyaviso's P7: a window ending on an earlier day than the newest status.
    #[tokio::test]
    async fn windows_across_days_keep_the_last_day() {
        let days = [
            "2021-01-01T10:00:00.0Z",
            "2021-01-02T10:00:00.0Z",
            "2021-01-02T20:00:00.0Z",
            "2021-01-03T10:00:00.0Z",
            "2021-01-04T10:00:00.0Z",
        ];
        // Revisions: 2 (Jan 1), 3 and 4 (Jan 2), 5 (Jan 3), 6 (Jan 4).
        assert_eq!(
            window_of(
                &days,
                "2021-01-01T12:00:00.0Z",
                Some("2021-01-02T21:00:00.0Z")
            )
            .await,
            Some(Window {
                first: 3,
                last: Some(4)
            })
        );
        assert_eq!(
            window_of(
                &days,
                "2021-01-01T12:00:00.0Z",
                Some("2021-01-02T15:00:00.0Z")
            )
            .await,
            Some(Window {
                first: 3,
                last: Some(3)
            })
        );
        assert_eq!(
            window_of(
                &days,
                "2021-01-02T15:00:00.0Z",
                Some("2021-01-03T23:00:00.0Z")
            )
            .await,
            Some(Window {
                first: 4,
                last: Some(5)
            })
        );
        assert_eq!(
            window_of(
                &days,
                "2020-12-31T00:00:00.0Z",
                Some("2021-01-05T00:00:00.0Z")
            )
            .await,
            Some(Window {
                first: 2,
                last: Some(6)
            })
        );
    }
}
