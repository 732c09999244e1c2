//! Signals: stacked care and other warnings a director should see. Each rule
//! is a pure function of a plan's facts; the result carries a canonical
//! fingerprint of the facts behind it, so an acknowledged signal can re-open
//! exactly when those facts change (a further provider joins, another child
//! waits), and not when something unrelated does.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use super::care::{Direction, InvolvementStatus, Segment};
use super::PlanStatus;
use crate::string_enum;

string_enum! {
    /// What a signal warns about (DESIGN "Signals").
    SignalCode {
        /// Three or more distinct providers active at once.
        ManyProviders => "many_providers",
        /// One child with active care of different providers in one segment.
        ParallelSameSegment => "parallel_same_segment",
        /// One child active in two or more segments at once.
        MultipleSegments => "multiple_segments",
        /// Three or more changes of scaling direction within the window.
        YoYo => "yo_yo",
        /// Care requested long ago and not started.
        LongWait => "long_wait",
        /// A plan in intake too long without a director.
        IntakeWithoutDirector => "intake_without_director",
    }
}

string_enum! {
    /// Whether the director has acknowledged a signal as deliberate.
    SignalStatus {
        Open => "open",
        Acknowledged => "acknowledged",
    }
}

/// Thresholds of the rules (config `[signals]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Thresholds {
    pub many_providers: usize,
    pub long_wait_days: i64,
    pub intake_without_director_days: i64,
    pub yo_yo_changes: usize,
    pub yo_yo_window_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            many_providers: 3,
            long_wait_days: 42,
            intake_without_director_days: 5,
            yo_yo_changes: 3,
            yo_yo_window_days: 180,
        }
    }
}

/// One involvement as the rules see it.
#[derive(Debug, Clone)]
pub struct InvolvementFact {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub member_id: Option<Uuid>,
    pub segment: Segment,
    pub status: InvolvementStatus,
    pub requested_on: NaiveDate,
}

/// One scaling event as the rules see it.
#[derive(Debug, Clone)]
pub struct ScalingFact {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub direction: Direction,
}

/// Everything the rules look at for one plan.
#[derive(Debug, Clone)]
pub struct PlanFacts {
    pub status: PlanStatus,
    pub created_at: DateTime<Utc>,
    pub involvements: Vec<InvolvementFact>,
    /// In order of occurrence (occurred_at, then id).
    pub scalings: Vec<ScalingFact>,
}

/// A signal that holds, with the fingerprint of its facts and what to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub code: SignalCode,
    pub facts: String,
    pub detail: serde_json::Value,
}

fn join<T: ToString>(items: impl IntoIterator<Item = T>, sep: &str) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

/// All signals that hold for a plan at `now`. Closed plans carry none.
pub fn evaluate(facts: &PlanFacts, t: &Thresholds, now: DateTime<Utc>) -> Vec<Finding> {
    if facts.status == PlanStatus::Closed {
        return Vec::new();
    }
    let active: Vec<&InvolvementFact> = facts
        .involvements
        .iter()
        .filter(|i| i.status == InvolvementStatus::Active)
        .collect();
    [
        many_providers(&active, t),
        parallel_same_segment(&active),
        multiple_segments(&active),
        yo_yo(&facts.scalings, t, now),
        long_wait(&facts.involvements, t, now.date_naive()),
        intake_without_director(facts, t, now),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn many_providers(active: &[&InvolvementFact], t: &Thresholds) -> Option<Finding> {
    let providers: BTreeSet<Uuid> = active.iter().map(|i| i.provider_id).collect();
    (providers.len() >= t.many_providers).then(|| Finding {
        code: SignalCode::ManyProviders,
        facts: join(&providers, ","),
        detail: json!({
            "providerIds": providers,
            "count": providers.len(),
            "threshold": t.many_providers,
        }),
    })
}

/// Active care per child (involvements naming a member), safety left out:
/// a protection measure is not stacked care.
fn care_per_child<'a>(active: &[&'a InvolvementFact]) -> BTreeMap<Uuid, Vec<&'a InvolvementFact>> {
    let mut per_child: BTreeMap<Uuid, Vec<&InvolvementFact>> = BTreeMap::new();
    for i in active {
        if let (Some(member), true) = (i.member_id, i.segment != Segment::Safety) {
            per_child.entry(member).or_default().push(i);
        }
    }
    per_child
}

fn parallel_same_segment(active: &[&InvolvementFact]) -> Option<Finding> {
    let mut entries = Vec::new();
    for (member, care) in care_per_child(active) {
        let mut by_segment: BTreeMap<&str, BTreeSet<Uuid>> = BTreeMap::new();
        for i in care {
            by_segment
                .entry(i.segment.as_str())
                .or_default()
                .insert(i.provider_id);
        }
        for (segment, providers) in by_segment {
            if providers.len() >= 2 {
                entries.push((member, segment, providers));
            }
        }
    }
    let mut keys: Vec<String> = entries
        .iter()
        .map(|(m, s, p)| format!("{m}:{s}:{}", join(p, "+")))
        .collect();
    keys.sort();
    (!entries.is_empty()).then(|| Finding {
        code: SignalCode::ParallelSameSegment,
        facts: keys.join(";"),
        detail: json!({
            "entries": entries.iter().map(|(m, s, p)| json!({
                "memberId": m, "segment": s, "providerIds": p,
            })).collect::<Vec<_>>(),
        }),
    })
}

fn multiple_segments(active: &[&InvolvementFact]) -> Option<Finding> {
    let mut entries = Vec::new();
    for (member, care) in care_per_child(active) {
        let segments: BTreeSet<&str> = care.iter().map(|i| i.segment.as_str()).collect();
        if segments.len() >= 2 {
            entries.push((member, segments));
        }
    }
    let mut keys: Vec<String> = entries
        .iter()
        .map(|(m, s)| format!("{m}:{}", join(s, "+")))
        .collect();
    keys.sort();
    (!entries.is_empty()).then(|| Finding {
        code: SignalCode::MultipleSegments,
        facts: keys.join(";"),
        detail: json!({
            "entries": entries.iter().map(|(m, s)| json!({
                "memberId": m, "segments": s,
            })).collect::<Vec<_>>(),
        }),
    })
}

/// Changes of direction between consecutive scaling events since `since`,
/// with the oldest and the latest event counted.
pub fn direction_changes(
    scalings: &[ScalingFact],
    since: DateTime<Utc>,
) -> (usize, Option<&ScalingFact>, Option<&ScalingFact>) {
    let recent: Vec<&ScalingFact> = scalings.iter().filter(|s| s.occurred_at >= since).collect();
    let changes = recent
        .windows(2)
        .filter(|w| w[0].direction != w[1].direction)
        .count();
    (changes, recent.first().copied(), recent.last().copied())
}

fn yo_yo(scalings: &[ScalingFact], t: &Thresholds, now: DateTime<Utc>) -> Option<Finding> {
    let since = now - chrono::Duration::days(t.yo_yo_window_days);
    let (changes, oldest, latest) = direction_changes(scalings, since);
    let (oldest, latest) = (oldest?, latest?);
    // `oldestCountedAt` tells the periodic refresh when the signal may lapse.
    (changes >= t.yo_yo_changes).then(|| Finding {
        code: SignalCode::YoYo,
        facts: latest.id.to_string(),
        detail: json!({
            "changes": changes,
            "windowDays": t.yo_yo_window_days,
            "oldestCountedAt": oldest.occurred_at,
        }),
    })
}

fn long_wait(
    involvements: &[InvolvementFact],
    t: &Thresholds,
    today: NaiveDate,
) -> Option<Finding> {
    let mut waiting: Vec<(Uuid, i64)> = involvements
        .iter()
        .filter(|i| i.status == InvolvementStatus::Requested)
        .map(|i| (i.id, (today - i.requested_on).num_days()))
        .filter(|(_, days)| *days > t.long_wait_days)
        .collect();
    waiting.sort();
    let longest = waiting.iter().map(|(_, d)| *d).max()?;
    Some(Finding {
        code: SignalCode::LongWait,
        facts: join(waiting.iter().map(|(id, _)| id), ","),
        detail: json!({
            "involvementIds": waiting.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            "longestWaitDays": longest,
            "thresholdDays": t.long_wait_days,
        }),
    })
}

fn intake_without_director(
    facts: &PlanFacts,
    t: &Thresholds,
    now: DateTime<Utc>,
) -> Option<Finding> {
    let overdue = facts.status == PlanStatus::Intake
        && now - facts.created_at > chrono::Duration::days(t.intake_without_director_days);
    overdue.then(|| Finding {
        code: SignalCode::IntakeWithoutDirector,
        facts: "intake".to_owned(),
        detail: json!({"thresholdDays": t.intake_without_director_days}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn active(n: u128, provider: u128, member: Option<u128>, segment: Segment) -> InvolvementFact {
        InvolvementFact {
            id: id(1000 + n),
            provider_id: id(provider),
            member_id: member.map(id),
            segment,
            status: InvolvementStatus::Active,
            requested_on: now().date_naive(),
        }
    }

    fn plan(involvements: Vec<InvolvementFact>) -> PlanFacts {
        PlanFacts {
            status: PlanStatus::Active,
            created_at: now() - chrono::Duration::days(30),
            involvements,
            scalings: vec![],
        }
    }

    fn codes(facts: &PlanFacts, t: &Thresholds) -> Vec<SignalCode> {
        evaluate(facts, t, now())
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn many_providers_at_and_around_the_threshold() {
        let t = Thresholds::default();
        let two = plan(vec![
            active(1, 1, None, Segment::Ambulant),
            active(2, 2, None, Segment::School),
            // Same provider twice counts once.
            active(3, 2, None, Segment::DayCare),
        ]);
        assert!(!codes(&two, &t).contains(&SignalCode::ManyProviders));
        let mut three = two.clone();
        three
            .involvements
            .push(active(4, 3, None, Segment::LocalTeam));
        let found = evaluate(&three, &t, now());
        let many = found
            .iter()
            .find(|f| f.code == SignalCode::ManyProviders)
            .cloned();
        assert_eq!(
            many.map(|f| f.facts),
            Some(format!("{},{},{}", id(1), id(2), id(3)))
        );
        // A configured threshold of 4 moves the line.
        let t4 = Thresholds {
            many_providers: 4,
            ..Thresholds::default()
        };
        assert!(!codes(&three, &t4).contains(&SignalCode::ManyProviders));
    }

    #[test]
    fn requested_and_ended_care_does_not_count_as_stacked() {
        let t = Thresholds::default();
        let mut facts = plan(vec![
            active(1, 1, None, Segment::Ambulant),
            active(2, 2, None, Segment::Ambulant),
            active(3, 3, None, Segment::Ambulant),
        ]);
        facts.involvements[2].status = InvolvementStatus::Requested;
        assert!(!codes(&facts, &t).contains(&SignalCode::ManyProviders));
        facts.involvements[2].status = InvolvementStatus::Ended;
        assert!(!codes(&facts, &t).contains(&SignalCode::ManyProviders));
    }

    #[test]
    fn parallel_same_segment_needs_one_child_and_two_providers() {
        let t = Thresholds::default();
        let child = Some(7);
        // One provider twice in a segment for one child: not parallel.
        let one = plan(vec![
            active(1, 1, child, Segment::Ambulant),
            active(2, 1, child, Segment::Ambulant),
        ]);
        assert!(!codes(&one, &t).contains(&SignalCode::ParallelSameSegment));
        // Two providers, but for different children: not parallel.
        let split = plan(vec![
            active(1, 1, Some(7), Segment::Ambulant),
            active(2, 2, Some(8), Segment::Ambulant),
        ]);
        assert!(!codes(&split, &t).contains(&SignalCode::ParallelSameSegment));
        // Two providers for the same child in one segment: parallel.
        let two = plan(vec![
            active(1, 1, child, Segment::Ambulant),
            active(2, 2, child, Segment::Ambulant),
        ]);
        let found = evaluate(&two, &t, now());
        let f = found
            .iter()
            .find(|f| f.code == SignalCode::ParallelSameSegment)
            .cloned();
        assert_eq!(
            f.map(|f| f.facts),
            Some(format!("{}:ambulant:{}+{}", id(7), id(1), id(2)))
        );
        // Safety alongside is not parallel care.
        let safety = plan(vec![
            active(1, 1, child, Segment::Safety),
            active(2, 2, child, Segment::Safety),
        ]);
        assert!(codes(&safety, &t).is_empty());
    }

    #[test]
    fn multiple_segments_for_one_child() {
        let t = Thresholds::default();
        let one_segment = plan(vec![active(1, 1, Some(7), Segment::Ambulant)]);
        assert!(codes(&one_segment, &t).is_empty());
        let two_segments = plan(vec![
            active(1, 1, Some(7), Segment::Ambulant),
            active(2, 1, Some(7), Segment::DayCare),
        ]);
        let found = evaluate(&two_segments, &t, now());
        assert_eq!(
            found
                .iter()
                .find(|f| f.code == SignalCode::MultipleSegments)
                .map(|f| f.facts.clone()),
            Some(format!("{}:ambulant+day_care", id(7)))
        );
        // Whole-family care does not count for a child.
        let family_wide = plan(vec![
            active(1, 1, Some(7), Segment::Ambulant),
            active(2, 1, None, Segment::DayCare),
        ]);
        assert!(!codes(&family_wide, &t).contains(&SignalCode::MultipleSegments));
    }

    fn scalings(days_ago_and_direction: &[(i64, Direction)]) -> Vec<ScalingFact> {
        days_ago_and_direction
            .iter()
            .enumerate()
            .map(|(n, (days, direction))| ScalingFact {
                id: id(500 + n as u128),
                occurred_at: now() - chrono::Duration::days(*days),
                direction: *direction,
            })
            .collect()
    }

    #[test]
    fn yo_yo_counts_direction_changes_within_the_window() {
        use Direction::{Down, Up};
        let t = Thresholds::default();
        let mut facts = plan(vec![]);
        // up, down, up: two changes.
        facts.scalings = scalings(&[(100, Up), (80, Down), (60, Up)]);
        assert!(!codes(&facts, &t).contains(&SignalCode::YoYo));
        // up, down, up, down: three changes.
        facts.scalings = scalings(&[(100, Up), (80, Down), (60, Up), (40, Down)]);
        let found = evaluate(&facts, &t, now());
        let f = found.iter().find(|f| f.code == SignalCode::YoYo).cloned();
        assert_eq!(f.map(|f| f.facts), Some(id(503).to_string()));
        // The same steps spread over more than 180 days: the oldest falls out.
        facts.scalings = scalings(&[(200, Up), (80, Down), (60, Up), (40, Down)]);
        assert!(!codes(&facts, &t).contains(&SignalCode::YoYo));
        // Going up three times is not yo-yo.
        facts.scalings = scalings(&[(30, Up), (20, Up), (10, Up), (5, Up)]);
        assert!(!codes(&facts, &t).contains(&SignalCode::YoYo));
    }

    #[test]
    fn long_wait_is_more_than_the_threshold_in_days() {
        let t = Thresholds::default();
        let mut waiting = active(1, 1, None, Segment::Ambulant);
        waiting.status = InvolvementStatus::Requested;
        waiting.requested_on = now().date_naive() - chrono::Duration::days(42);
        let at = plan(vec![waiting.clone()]);
        assert!(!codes(&at, &t).contains(&SignalCode::LongWait));
        waiting.requested_on = now().date_naive() - chrono::Duration::days(43);
        let over = plan(vec![waiting.clone()]);
        let found = evaluate(&over, &t, now());
        assert_eq!(
            found
                .iter()
                .find(|f| f.code == SignalCode::LongWait)
                .map(|f| f.detail["longestWaitDays"].clone()),
            Some(json!(43))
        );
        // Once started, nobody is waiting.
        waiting.status = InvolvementStatus::Active;
        assert!(codes(&plan(vec![waiting]), &t).is_empty());
    }

    #[test]
    fn intake_without_director_after_the_threshold() {
        let t = Thresholds::default();
        let mut facts = plan(vec![]);
        facts.status = PlanStatus::Intake;
        facts.created_at = now() - chrono::Duration::days(5);
        assert!(codes(&facts, &t).is_empty());
        facts.created_at = now() - chrono::Duration::days(5) - chrono::Duration::minutes(1);
        assert_eq!(codes(&facts, &t), vec![SignalCode::IntakeWithoutDirector]);
        facts.status = PlanStatus::Active;
        assert!(codes(&facts, &t).is_empty());
    }

    #[test]
    fn closed_plans_carry_no_signals() {
        let t = Thresholds::default();
        let mut facts = plan(vec![
            active(1, 1, Some(7), Segment::Ambulant),
            active(2, 2, Some(7), Segment::Ambulant),
            active(3, 3, Some(7), Segment::DayCare),
        ]);
        assert_eq!(codes(&facts, &t).len(), 3);
        facts.status = PlanStatus::Closed;
        assert!(codes(&facts, &t).is_empty());
    }
}
