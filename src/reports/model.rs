//! The report's shapes and pure rules: its parameters, the period, the
//! raw figures, the suppression of small cells and the report they make.

use std::borrow::Cow;

use chrono::{Months, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::domain::care::Segment;
use crate::domain::signals::SignalCode;
use crate::domain::{DomainError, MunicipalityCode};
use crate::error::{ApiResult, ErrorCode, Invalid};

/// Counts below this are suppressed (and medians or means over fewer cases).
pub const THRESHOLD: i64 = 5;

/// Longest period a report covers.
pub const MAX_PERIOD_YEARS: u32 = 5;

/// A count, or null when it is small enough to identify families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct SuppressedCount {
    /// The count; null when suppressed.
    #[schema(minimum = 0)]
    pub value: Option<i64>,
    /// True when the count is 1 to 4 and therefore withheld.
    pub suppressed: bool,
}

impl SuppressedCount {
    pub fn of(n: i64) -> Self {
        if n > 0 && n < THRESHOLD {
            Self::hidden()
        } else {
            Self {
                value: Some(n),
                suppressed: false,
            }
        }
    }

    fn hidden() -> Self {
        Self {
            value: None,
            suppressed: true,
        }
    }
}

/// A median or mean, or null when computed over too few cases.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct SuppressedNumber {
    /// The figure, rounded; null when suppressed or when there were no cases.
    pub value: Option<f64>,
    /// True when the figure was computed over 1 to 4 cases and is withheld.
    pub suppressed: bool,
}

impl SuppressedNumber {
    /// `value` computed over `cases` cases, rounded to `decimals`.
    pub fn of(value: Option<f64>, cases: i64, decimals: i32) -> Self {
        if cases == 0 {
            return Self {
                value: None,
                suppressed: false,
            };
        }
        if cases < THRESHOLD {
            return Self {
                value: None,
                suppressed: true,
            };
        }
        let scale = 10f64.powi(decimals);
        Self {
            value: value.map(|v| (v * scale).round() / scale),
            suppressed: false,
        }
    }
}

/// The reporting period, both days inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// Parses and checks `from` and `to`, recording every problem in `v`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
        v: &mut Invalid,
    ) -> Option<Self> {
        let from = v.check("from", day(from, today, "from"));
        let to = v.check("to", day(to, today, "to"));
        let (from, to) = (from?, to?);
        if from > to {
            v.push(
                "to",
                ErrorCode::BeforeFrom,
                "`to` must not be before `from`.",
            );
            return None;
        }
        let longest = from
            .checked_add_months(Months::new(MAX_PERIOD_YEARS * 12))
            .unwrap_or(NaiveDate::MAX);
        if to >= longest {
            v.push(
                "to",
                ErrorCode::PeriodTooLong,
                "A report covers at most 5 years: `to` must be before `from` plus 5 years.",
            );
            return None;
        }
        Some(Self { from, to })
    }

    /// First instant of the period.
    pub fn start(&self) -> chrono::DateTime<Utc> {
        self.from.and_time(NaiveTime::MIN).and_utc()
    }

    /// First instant after the period (exclusive end).
    pub fn end(&self) -> chrono::DateTime<Utc> {
        (self.to.and_time(NaiveTime::MIN) + TimeDelta::days(1)).and_utc()
    }
}

fn day(input: Option<&str>, today: NaiveDate, name: &str) -> Result<NaiveDate, DomainError> {
    let Some(text) = input.filter(|t| !t.is_empty()) else {
        return Err(DomainError::new(
            ErrorCode::Required,
            format!("`{name}` is required."),
        ));
    };
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| DomainError::new(ErrorCode::InvalidDate, "A date is written YYYY-MM-DD."))?;
    crate::domain::past_date(date, today, &format!("`{name}`"))
}

/// Which municipality and period. All three are required; they are
/// optional here only so that every missing one is named at once.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SummaryParams {
    /// CBS code of the municipality; auditors and team leads may only ask
    /// for their own (another is answered 404).
    #[param(required = true, pattern = "^[0-9]{4}$", example = "0546")]
    #[validate(custom(function = "crate::reports::model::municipality_code"))]
    pub municipality_code: Option<String>,
    /// First day of the period, inclusive (`YYYY-MM-DD`, UTC day).
    #[param(required = true, value_type = String, format = Date, example = "2026-01-01")]
    pub from: Option<String>,
    /// Last day of the period, inclusive (`YYYY-MM-DD`, UTC day); not in
    /// the future, and before `from` plus 5 years.
    #[param(required = true, value_type = String, format = Date, example = "2026-03-31")]
    pub to: Option<String>,
}

impl SummaryParams {
    /// The municipality and the period, or one 400 naming every missing or
    /// invalid parameter (`today` bounds the period).
    pub fn parse(&self, today: NaiveDate) -> ApiResult<(MunicipalityCode, Period)> {
        let mut v = Invalid::validated(self);
        let code = match self.municipality_code.as_deref() {
            None => {
                v.push(
                    "municipalityCode",
                    ErrorCode::Required,
                    "`municipalityCode` is required.",
                );
                None
            }
            // An invalid code was named by its rule above.
            Some(code) => MunicipalityCode::parse(code).ok(),
        };
        let period = Period::parse(self.from.as_deref(), self.to.as_deref(), today, &mut v);
        v.finish((code, period))
    }
}

/// The rule of `municipalityCode`: an empty one is missing, anything else
/// must be a code.
pub fn municipality_code(value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(ErrorCode::Required.as_str())
            .with_message(Cow::Borrowed("`municipalityCode` is required.")));
    }
    crate::http::validation::municipality_code(value)
}

/// Raw figures as the database gives them, before suppression.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub families: i64,
    pub open_plans: i64,
    pub plans_in_intake: i64,
    pub directed_plans: i64,
    pub median_days_to_director: Option<f64>,
    pub active_plans: i64,
    pub mean_providers: Option<f64>,
    /// Plans per signal code; codes without plans may be absent.
    pub signals: Vec<(String, i64)>,
    pub scalings_up: i64,
    pub scalings_down: i64,
    /// Per segment: involvements started, median waiting days.
    pub waiting: Vec<(String, i64, Option<f64>)>,
    pub closed_plans: i64,
    pub achieved: i64,
    pub partially_achieved: i64,
    pub not_achieved: i64,
    pub dropouts: i64,
    pub satisfaction_responses: i64,
    pub mean_satisfaction: Option<f64>,
}

/// The summary report of one municipality over one period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryReport {
    #[schema(example = "0546")]
    pub municipality_code: String,
    /// First day of the period (inclusive).
    pub from: NaiveDate,
    /// Last day of the period (inclusive).
    pub to: NaiveDate,
    /// Counts below this, and medians or means over fewer cases, are suppressed.
    #[schema(example = 5)]
    pub suppression_threshold: i64,
    /// Families with a plan open at some moment of the period.
    pub families: SuppressedCount,
    /// Plans open (intake or active) at the end of the period.
    pub open_plans: SuppressedCount,
    /// Open plans without a director at the end of the period.
    pub plans_in_intake: SuppressedCount,
    /// Median calendar days from opening a plan to its first director, over
    /// plans whose first director assignment started in the period.
    pub median_days_to_director: SuppressedNumber,
    /// Mean number of distinct providers with care running at the end of the
    /// period (started on or before its last day, not ended on or before
    /// it), over plans active (open, with a director) at its end.
    pub average_providers_per_active_plan: SuppressedNumber,
    /// Open plans carrying each signal now (acknowledged or not); today's
    /// state whatever the period.
    pub plans_by_signal: PlansBySignal,
    /// Level changes in the period, by direction.
    pub scalings: Scalings,
    /// Involvements started in the period per segment (ordered by
    /// intensity, safety last), with the median waiting time.
    #[schema(max_items = 8)]
    pub waiting_by_segment: Vec<SegmentWaiting>,
    /// Plans closed in the period and their outcomes.
    pub outcomes: Outcomes,
}

/// Open plans per signal code.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlansBySignal {
    /// Stacked care: 3 or more distinct providers active at once.
    pub many_providers: SuppressedCount,
    /// Stacked care: one child with care of different providers in one segment.
    pub parallel_same_segment: SuppressedCount,
    /// Stacked care: one child active in 2 or more segments.
    pub multiple_segments: SuppressedCount,
    /// Scaling direction changed 3 or more times within the window.
    pub yo_yo: SuppressedCount,
    /// Care requested long ago and not started.
    pub long_wait: SuppressedCount,
    /// A plan in intake too long without a director.
    pub intake_without_director: SuppressedCount,
}

/// Scaling events in the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Scalings {
    pub up: SuppressedCount,
    pub down: SuppressedCount,
}

/// Waiting for care in one segment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SegmentWaiting {
    pub segment: Segment,
    /// Involvements of this segment that started in the period.
    pub started_involvements: SuppressedCount,
    /// Median of `startedOn - requestedOn` in days over those involvements.
    pub median_waiting_days: SuppressedNumber,
}

/// Outcomes of the plans closed in the period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outcomes {
    /// Plans closed in the period; suppressed too when a goal-realisation
    /// count is, so that count cannot be recovered by subtraction.
    pub closed_plans: SuppressedCount,
    pub goal_realisation: GoalRealisationCounts,
    /// Closed plans that ended by dropout (uitval).
    pub dropouts: SuppressedCount,
    /// Closed plans with a satisfaction score.
    pub satisfaction_responses: SuppressedCount,
    /// Mean satisfaction score (1 to 10) over those plans.
    pub mean_satisfaction: SuppressedNumber,
}

/// Closed plans per goal realisation.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoalRealisationCounts {
    pub achieved: SuppressedCount,
    pub partially_achieved: SuppressedCount,
    pub not_achieved: SuppressedCount,
}

/// Applies the suppression rules to raw figures.
pub fn summarise(municipality: &str, period: Period, f: &Figures) -> SummaryReport {
    SummaryReport {
        municipality_code: municipality.to_owned(),
        from: period.from,
        to: period.to,
        suppression_threshold: THRESHOLD,
        families: SuppressedCount::of(f.families),
        open_plans: SuppressedCount::of(f.open_plans),
        plans_in_intake: SuppressedCount::of(f.plans_in_intake),
        median_days_to_director: SuppressedNumber::of(
            f.median_days_to_director,
            f.directed_plans,
            1,
        ),
        average_providers_per_active_plan: SuppressedNumber::of(
            f.mean_providers,
            f.active_plans,
            2,
        ),
        plans_by_signal: plans_by_signal(f),
        scalings: Scalings {
            up: SuppressedCount::of(f.scalings_up),
            down: SuppressedCount::of(f.scalings_down),
        },
        waiting_by_segment: waiting_by_segment(f),
        outcomes: outcomes(f),
    }
}

/// Every signal of the report, 0 for those without plans.
fn plans_by_signal(f: &Figures) -> PlansBySignal {
    let signal = |code: SignalCode| {
        SuppressedCount::of(
            f.signals
                .iter()
                .find(|(c, _)| c == code.as_str())
                .map_or(0, |(_, n)| *n),
        )
    };
    PlansBySignal {
        many_providers: signal(SignalCode::ManyProviders),
        parallel_same_segment: signal(SignalCode::ParallelSameSegment),
        multiple_segments: signal(SignalCode::MultipleSegments),
        yo_yo: signal(SignalCode::YoYo),
        long_wait: signal(SignalCode::LongWait),
        intake_without_director: signal(SignalCode::IntakeWithoutDirector),
    }
}

/// Every segment, ordered by intensity (safety last), 0 for those without
/// involvements.
fn waiting_by_segment(f: &Figures) -> Vec<SegmentWaiting> {
    let mut segments: Vec<Segment> = Segment::ALL.to_vec();
    segments.sort_by_key(|s| s.level().unwrap_or(i16::MAX));
    segments
        .into_iter()
        .map(|segment| {
            let (n, median) = f
                .waiting
                .iter()
                .find(|(s, _, _)| s == segment.as_str())
                .map_or((0, None), |(_, n, m)| (*n, *m));
            SegmentWaiting {
                segment,
                started_involvements: SuppressedCount::of(n),
                median_waiting_days: SuppressedNumber::of(median, n, 1),
            }
        })
        .collect()
}

/// The outcomes, with the closed total hidden when a goal-realisation
/// count is (it would follow by subtraction).
fn outcomes(f: &Figures) -> Outcomes {
    let goal_realisation = GoalRealisationCounts {
        achieved: SuppressedCount::of(f.achieved),
        partially_achieved: SuppressedCount::of(f.partially_achieved),
        not_achieved: SuppressedCount::of(f.not_achieved),
    };
    let any_goal_hidden = [
        goal_realisation.achieved,
        goal_realisation.partially_achieved,
        goal_realisation.not_achieved,
    ]
    .iter()
    .any(|c| c.suppressed);
    let closed_plans = if any_goal_hidden {
        SuppressedCount::hidden()
    } else {
        SuppressedCount::of(f.closed_plans)
    };
    Outcomes {
        closed_plans,
        goal_realisation,
        dropouts: SuppressedCount::of(f.dropouts),
        satisfaction_responses: SuppressedCount::of(f.satisfaction_responses),
        mean_satisfaction: SuppressedNumber::of(f.mean_satisfaction, f.satisfaction_responses, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn counts_of_one_to_four_are_suppressed_zero_and_five_are_shown() {
        assert_eq!(SuppressedCount::of(0).value, Some(0));
        for n in 1..=4 {
            assert_eq!(SuppressedCount::of(n), SuppressedCount::hidden(), "{n}");
        }
        assert_eq!(
            SuppressedCount::of(5),
            SuppressedCount {
                value: Some(5),
                suppressed: false
            }
        );
    }

    #[test]
    fn medians_and_means_need_five_cases_and_are_rounded() {
        assert_eq!(
            SuppressedNumber::of(Some(2.0), 4, 1),
            SuppressedNumber {
                value: None,
                suppressed: true
            }
        );
        assert_eq!(SuppressedNumber::of(Some(2.26), 5, 1).value, Some(2.3));
        assert_eq!(SuppressedNumber::of(Some(1.666), 9, 2).value, Some(1.67));
        assert_eq!(
            SuppressedNumber::of(None, 0, 1),
            SuppressedNumber {
                value: None,
                suppressed: false
            }
        );
    }

    #[test]
    fn a_period_is_checked_for_order_length_format_and_future() {
        let today = date("2026-06-30");
        let ok = |from: &str, to: &str| {
            let mut v = Invalid::new();
            let p = Period::parse(Some(from), Some(to), today, &mut v);
            (p, v.is_empty())
        };
        assert_eq!(
            ok("2026-01-01", "2026-01-01").0,
            Some(Period {
                from: date("2026-01-01"),
                to: date("2026-01-01")
            })
        );
        // Five years minus a day is the longest period.
        assert!(ok("2021-07-01", "2026-06-30").1);
        assert!(!ok("2021-06-30", "2026-06-30").1);
        assert!(!ok("2026-02-01", "2026-01-31").1);
        assert!(!ok("2026-01-01", "2026-07-01").1, "to in the future");
        for bad in [
            "2026-1-01",
            "2026-02-30",
            "01-01-2026",
            "2026-01-01T00:00",
            "",
        ] {
            assert!(!ok(bad, "2026-03-01").1, "{bad}");
        }
    }

    #[test]
    fn a_period_runs_from_midnight_to_the_midnight_after_its_last_day() {
        let p = Period {
            from: date("2026-01-01"),
            to: date("2026-01-31"),
        };
        assert_eq!(p.start().to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert_eq!(p.end().to_rfc3339(), "2026-02-01T00:00:00+00:00");
    }

    #[test]
    fn a_hidden_goal_realisation_count_hides_the_closed_total_too() {
        let period = Period {
            from: date("2026-01-01"),
            to: date("2026-01-31"),
        };
        let figures = Figures {
            closed_plans: 9,
            achieved: 5,
            partially_achieved: 4,
            not_achieved: 0,
            ..Figures::default()
        };
        let r = summarise("0546", period, &figures);
        assert!(r.outcomes.goal_realisation.partially_achieved.suppressed);
        assert!(r.outcomes.closed_plans.suppressed);
        assert_eq!(r.outcomes.goal_realisation.achieved.value, Some(5));
        assert_eq!(r.outcomes.goal_realisation.not_achieved.value, Some(0));

        let shown = Figures {
            closed_plans: 10,
            achieved: 5,
            partially_achieved: 5,
            ..Figures::default()
        };
        let r = summarise("0546", period, &shown);
        assert_eq!(r.outcomes.closed_plans.value, Some(10));
    }

    #[test]
    fn every_signal_and_segment_is_listed_even_without_cases() {
        let period = Period {
            from: date("2026-01-01"),
            to: date("2026-01-31"),
        };
        let figures = Figures {
            signals: vec![("many_providers".into(), 6)],
            waiting: vec![("ambulant".into(), 7, Some(12.5))],
            ..Figures::default()
        };
        let r = summarise("0546", period, &figures);
        assert_eq!(r.plans_by_signal.many_providers.value, Some(6));
        assert_eq!(r.plans_by_signal.yo_yo.value, Some(0));
        let order: Vec<&str> = r
            .waiting_by_segment
            .iter()
            .map(|w| w.segment.as_str())
            .collect();
        assert_eq!(
            order,
            [
                "local_team",
                "school",
                "ambulant",
                "day_care",
                "housing",
                "residential",
                "crisis",
                "safety"
            ]
        );
        assert_eq!(
            r.waiting_by_segment[2].median_waiting_days.value,
            Some(12.5)
        );
        assert_eq!(r.waiting_by_segment[2].started_involvements.value, Some(7));
    }
}
