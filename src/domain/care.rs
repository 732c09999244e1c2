//! Care levels and scaling: which segment weighs how much, what level a plan
//! is at, and whether a change is a step up or down. Pure rules; the
//! database checks the same derivation at commit (migration `care`).

use crate::string_enum;

string_enum! {
    /// Segment of care, ordered by intensity (DESIGN "Involvements and scaling").
    Segment {
        LocalTeam => "local_team",
        School => "school",
        Ambulant => "ambulant",
        DayCare => "day_care",
        Housing => "housing",
        Residential => "residential",
        Crisis => "crisis",
        /// Child protection or juvenile probation by a GI: no level, sets
        /// the plan's protection measure.
        Safety => "safety",
    }
}

impl Segment {
    /// Intensity level 1 to 7; `None` for safety, which is not care intensity.
    pub fn level(self) -> Option<i16> {
        Some(match self {
            Segment::LocalTeam => 1,
            Segment::School => 2,
            Segment::Ambulant => 3,
            Segment::DayCare => 4,
            Segment::Housing => 5,
            Segment::Residential => 6,
            Segment::Crisis => 7,
            Segment::Safety => return None,
        })
    }
}

string_enum! {
    /// Life cycle of an involvement.
    InvolvementStatus {
        Requested => "requested",
        Active => "active",
        Ended => "ended",
    }
}

string_enum! {
    /// Why an involvement ended, after iJw JZ588 (reden beëindiging).
    EndReason {
        /// 31: ended as planned.
        Completed => "completed",
        /// 32: stopped by the client (dropout).
        StoppedByClient => "stopped_by_client",
        /// 33: stopped by the provider (dropout).
        StoppedByProvider => "stopped_by_provider",
        /// 34: stopped by mutual agreement.
        StoppedByAgreement => "stopped_by_agreement",
        /// 35: stopped by an external cause (dropout).
        StoppedExternal => "stopped_external",
        /// 38: transferred to another provider.
        Transferred => "transferred",
        /// 39: continued in another domain (Wmo, Wlz, ...).
        OtherDomain => "other_domain",
        Other => "other",
    }
}

impl EndReason {
    /// The iJw JZ588 code, where there is one.
    pub fn ijw_code(self) -> Option<&'static str> {
        Some(match self {
            EndReason::Completed => "31",
            EndReason::StoppedByClient => "32",
            EndReason::StoppedByProvider => "33",
            EndReason::StoppedByAgreement => "34",
            EndReason::StoppedExternal => "35",
            EndReason::Transferred => "38",
            EndReason::OtherDomain => "39",
            EndReason::Other => return None,
        })
    }

    /// Dropout (uitval) as municipalities count it: JZ588 32, 33 and 35.
    pub fn is_dropout(self) -> bool {
        matches!(
            self,
            EndReason::StoppedByClient | EndReason::StoppedByProvider | EndReason::StoppedExternal
        )
    }
}

string_enum! {
    /// Direction of a change of care level.
    Direction {
        Up => "up",
        Down => "down",
    }
}

/// The care state a plan's active involvements give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CareState {
    /// Highest level among active involvements, 0 without any.
    pub level: i16,
    /// Whether a safety involvement is active.
    pub protection_measure: bool,
}

/// Derives the plan's care state from the segments of its active involvements.
pub fn derive_state(active_segments: impl IntoIterator<Item = Segment>) -> CareState {
    active_segments
        .into_iter()
        .fold(CareState::default(), |state, segment| {
            match segment.level() {
                Some(level) => CareState {
                    level: state.level.max(level),
                    ..state
                },
                None => CareState {
                    protection_measure: true,
                    ..state
                },
            }
        })
}

/// The direction of a change from one level to another; `None` when the
/// level stays (then no scaling event is recorded).
pub fn direction(from: i16, to: i16) -> Option<Direction> {
    match to.cmp(&from) {
        std::cmp::Ordering::Greater => Some(Direction::Up),
        std::cmp::Ordering::Less => Some(Direction::Down),
        std::cmp::Ordering::Equal => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_design_order() {
        let levels: Vec<Option<i16>> = Segment::ALL.iter().map(|s| s.level()).collect();
        assert_eq!(
            levels,
            vec![
                Some(1),
                Some(2),
                Some(3),
                Some(4),
                Some(5),
                Some(6),
                Some(7),
                None
            ]
        );
    }

    #[test]
    fn no_care_is_level_zero() {
        assert_eq!(
            derive_state([]),
            CareState {
                level: 0,
                protection_measure: false
            }
        );
    }

    #[test]
    fn the_heaviest_active_segment_sets_the_level() {
        let state = derive_state([Segment::Ambulant, Segment::Housing, Segment::School]);
        assert_eq!(state.level, 5);
        assert!(!state.protection_measure);
    }

    #[test]
    fn safety_sets_the_protection_measure_and_not_the_level() {
        assert_eq!(
            derive_state([Segment::Safety]),
            CareState {
                level: 0,
                protection_measure: true
            }
        );
        assert_eq!(
            derive_state([Segment::Safety, Segment::Ambulant]),
            CareState {
                level: 3,
                protection_measure: true
            }
        );
    }

    #[test]
    fn direction_of_a_change() {
        assert_eq!(direction(0, 3), Some(Direction::Up));
        assert_eq!(direction(5, 3), Some(Direction::Down));
        assert_eq!(direction(3, 3), None);
    }

    #[test]
    fn dropout_is_jz588_32_33_and_35() {
        let dropouts: Vec<&str> = EndReason::ALL
            .iter()
            .filter(|r| r.is_dropout())
            .filter_map(|r| r.ijw_code())
            .collect();
        assert_eq!(dropouts, vec!["32", "33", "35"]);
    }
}
