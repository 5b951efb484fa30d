//! How often a secret rotates, from its rotation rules: `AutomaticallyAfterDays`, `rate()` or
//! `cron()`. For a cron schedule, the longest gap between two runs is found by walking the
//! calendar day by day over several decades (leap years and five-week months included), so that a
//! Cal.com key's lifetime can be checked against the real worst case, not a guess.

/// How often the secret rotates, as far as its rotation rules tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    /// `AutomaticallyAfterDays` or `rate(N days|hours)`: rotations are this many days apart.
    Exactly(u32),
    /// A `cron()` schedule: rotations are at most this many days apart.
    AtMost(u32),
    /// No rules at all.
    Unknown,
}

/// A schedule expression this function cannot read: the expression, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the rotation schedule {expression:?} ({why})")]
pub struct UnreadableSchedule {
    pub expression: String,
    pub why: String,
}

impl Interval {
    pub fn from_rules(after_days: Option<i64>, expression: Option<&str>) -> Result<Self, UnreadableSchedule> {
        if let Some(expression) = expression.map(str::trim).filter(|e| !e.is_empty()) {
            return Self::from_expression(expression);
        }
        match after_days {
            Some(days) if days >= 1 => Ok(Interval::Exactly(u32::try_from(days).unwrap_or(u32::MAX))),
            _ => Ok(Interval::Unknown),
        }
    }

    fn from_expression(expression: &str) -> Result<Self, UnreadableSchedule> {
        let bad = |why: &str| UnreadableSchedule { expression: expression.to_owned(), why: why.to_owned() };
        if let Some(body) = expression.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            let (count, unit) = body.trim().split_once(' ').ok_or_else(|| bad("expected rate(N days)"))?;
            let count: u32 = count.parse().map_err(|_| bad("the count is not a whole number"))?;
            let days = match unit.trim() {
                "day" | "days" => count,
                "hour" | "hours" => count.div_ceil(24),
                _ => return Err(bad("the unit must be days or hours")),
            };
            return Ok(Interval::Exactly(days.max(1)));
        }
        if let Some(body) = expression.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            return longest_gap(body).map(Interval::AtMost).map_err(|why| bad(&why));
        }
        Err(bad("expected rate(...) or cron(...)"))
    }
}

/// The calendar walked to find a cron schedule's longest gap: long enough to hold several leap
/// cycles, so that even a schedule that runs on 29 February shows two gaps.
const FIRST_YEAR: i32 = 2001;
const LAST_YEAR: i32 = 2060;

/// The most days between two consecutive runs of `cron(body)`.
fn longest_gap(body: &str) -> Result<u32, String> {
    let fields: Vec<&str> = body.split_whitespace().collect();
    let [_minutes, _hours, dom, month, dow, year] = fields[..] else {
        return Err("a cron() schedule has six fields".into());
    };
    if year != "*" {
        return Err("a schedule limited to certain years stops running".into());
    }
    let months = Field::parse(month, 1, 12, MONTHS)?;
    let dom = DayOfMonth::parse(dom)?;
    let dow = DayOfWeek::parse(dow)?;
    let (mut previous, mut longest) = (None::<i64>, 0i64);
    let mut ordinal = 0i64;
    for year in FIRST_YEAR..=LAST_YEAR {
        for month in 1..=12u32 {
            let last = days_in_month(year, month);
            for day in 1..=last {
                ordinal += 1;
                let date = Date { day, last, weekday: weekday(ordinal) };
                if months.contains(month) && dom.matches(&date) && dow.matches(&date) {
                    if let Some(previous) = previous {
                        longest = longest.max(ordinal - previous);
                    }
                    previous = Some(ordinal);
                }
            }
        }
    }
    match (previous, longest) {
        (None, _) => Err("it never runs".into()),
        (Some(_), 0) => Err("it runs too rarely to tell how long keys must last".into()),
        (Some(_), longest) => Ok(u32::try_from(longest).unwrap_or(u32::MAX)),
    }
}

/// The weekday of the `ordinal`-th day of the walk, 2001-01-01 (a Monday) being the first: Sunday
/// 1 to Saturday 7, as AWS numbers them.
fn weekday(ordinal: i64) -> u32 {
    (ordinal.rem_euclid(7) + 1) as u32
}

struct Date {
    day: u32,
    /// The month's last day.
    last: u32,
    /// Sunday 1 to Saturday 7.
    weekday: u32,
}

impl Date {
    fn weekday_of(&self, day: u32) -> u32 {
        (self.weekday + 7 * 5 + day - self.day - 1) % 7 + 1
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

const MONTHS: &[&str] = &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A plain cron field: `*`, `?`, values, names, ranges, lists and steps, as a set of numbers.
struct Field(Vec<bool>);

impl Field {
    fn parse(text: &str, min: u32, max: u32, names: &[&str]) -> Result<Self, String> {
        let mut set = vec![false; max as usize + 1];
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => {
                    (range, step.parse::<u32>().ok().filter(|s| *s > 0).ok_or("a bad step")?)
                }
                None => (item, 1),
            };
            let value = |v: &str| -> Result<u32, String> {
                let n = match names.iter().position(|name| name.eq_ignore_ascii_case(v)) {
                    Some(i) => i as u32 + min,
                    None => v.parse().map_err(|_| format!("{v:?} is not a value this field takes"))?,
                };
                if (min..=max).contains(&n) { Ok(n) } else { Err(format!("{n} is out of range")) }
            };
            let (from, to) = match range {
                "*" | "?" => (min, max),
                _ => match range.split_once('-') {
                    Some((a, b)) => (value(a)?, value(b)?),
                    None if step > 1 => (value(range)?, max),
                    None => (value(range)?, value(range)?),
                },
            };
            for n in (from..=to).step_by(step as usize) {
                set[n as usize] = true;
            }
        }
        Ok(Field(set))
    }

    fn contains(&self, n: u32) -> bool {
        self.0.get(n as usize).copied().unwrap_or(false)
    }
}

/// The day-of-month field, with AWS's `L` (last day), `LW` (last weekday) and `nW` (the weekday
/// nearest day n, within the month).
enum DayOfMonth {
    Any,
    Days(Field),
    Last,
    LastWeekday,
    NearestWeekday(u32),
}

impl DayOfMonth {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "?" | "*" => DayOfMonth::Any,
            "L" => DayOfMonth::Last,
            "LW" => DayOfMonth::LastWeekday,
            _ => match text.strip_suffix('W') {
                Some(day) => DayOfMonth::NearestWeekday(
                    day.parse().ok().filter(|d| (1..=31).contains(d)).ok_or("a bad day before W")?,
                ),
                None => DayOfMonth::Days(Field::parse(text, 1, 31, &[])?),
            },
        })
    }

    fn matches(&self, date: &Date) -> bool {
        let weekday = |day: u32| !matches!(date.weekday_of(day), 1 | 7);
        match self {
            DayOfMonth::Any => true,
            DayOfMonth::Days(days) => days.contains(date.day),
            DayOfMonth::Last => date.day == date.last,
            DayOfMonth::LastWeekday => (1..=date.last).rev().find(|d| weekday(*d)) == Some(date.day),
            DayOfMonth::NearestWeekday(n) => {
                let target = (*n).min(date.last);
                let nearest = match date.weekday_of(target) {
                    7 if target == 1 => target + 2, // Saturday the 1st: Monday the 3rd
                    7 => target - 1,
                    1 if target == date.last => target - 2, // Sunday the last: Friday
                    1 => target + 1,
                    _ => target,
                };
                nearest == date.day
            }
        }
    }
}

/// The day-of-week field, with AWS's `nL` (the last such weekday of the month) and `n#k` (the
/// k-th such weekday).
enum DayOfWeek {
    Any,
    Days(Field),
    Last(u32),
    Nth(u32, u32),
}

impl DayOfWeek {
    fn parse(text: &str) -> Result<Self, String> {
        let weekday =
            |v: &str| Field::parse(v, 1, 7, WEEKDAYS).map(|f| (1..=7).find(|d| f.contains(*d)).unwrap_or(0));
        Ok(match text {
            "?" | "*" => DayOfWeek::Any,
            "L" => DayOfWeek::Days(Field::parse("7", 1, 7, WEEKDAYS)?),
            _ => match (text.strip_suffix('L'), text.split_once('#')) {
                (Some(day), _) => DayOfWeek::Last(weekday(day)?),
                (None, Some((day, nth))) => DayOfWeek::Nth(
                    weekday(day)?,
                    nth.parse().ok().filter(|k| (1..=5).contains(k)).ok_or("a bad count after #")?,
                ),
                (None, None) => DayOfWeek::Days(Field::parse(text, 1, 7, WEEKDAYS)?),
            },
        })
    }

    fn matches(&self, date: &Date) -> bool {
        match self {
            DayOfWeek::Any => true,
            DayOfWeek::Days(days) => days.contains(date.weekday),
            DayOfWeek::Last(weekday) => date.weekday == *weekday && date.day + 7 > date.last,
            DayOfWeek::Nth(weekday, nth) => date.weekday == *weekday && (date.day - 1) / 7 + 1 == *nth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(cron: &str) -> Result<u32, String> {
        longest_gap(cron)
    }

    #[test]
    fn rules_and_rates() {
        assert_eq!(Interval::from_rules(Some(30), None), Ok(Interval::Exactly(30)));
        assert_eq!(Interval::from_rules(Some(30), Some("rate(10 days)")), Ok(Interval::Exactly(10)));
        assert_eq!(Interval::from_rules(None, Some("rate(1 day)")), Ok(Interval::Exactly(1)));
        assert_eq!(Interval::from_rules(None, Some("rate(36 hours)")), Ok(Interval::Exactly(2)));
        assert_eq!(Interval::from_rules(None, Some("rate(4 hours)")), Ok(Interval::Exactly(1)));
        assert_eq!(Interval::from_rules(None, None), Ok(Interval::Unknown));
        assert!(Interval::from_rules(None, Some("rate(5 minutes)")).is_err());
        assert!(Interval::from_rules(None, Some("every day")).is_err());
    }

    #[test]
    fn cron_gaps_are_the_real_worst_case() {
        assert_eq!(gap("0 4 * * ? *"), Ok(1)); // daily
        assert_eq!(gap("0 */4 * * ? *"), Ok(1));
        assert_eq!(gap("0 4 ? * MON *"), Ok(7));
        assert_eq!(gap("0 4 ? * 2 *"), Ok(7)); // 2 is Monday
        assert_eq!(gap("0 4 ? * MON,THU *"), Ok(4));
        assert_eq!(gap("0 4 ? * MON-FRI *"), Ok(3));
        assert_eq!(gap("0 4 1 * ? *"), Ok(31));
        assert_eq!(gap("0 4 31 * ? *"), Ok(61)); // only the months that have a 31st
        assert_eq!(gap("0 4 1 1,7 ? *"), Ok(184));
        assert_eq!(gap("0 4 1 */3 ? *"), Ok(92));
        assert_eq!(gap("0 4 L * ? *"), Ok(31));
        assert_eq!(gap("0 4 LW * ? *"), Ok(33));
        assert_eq!(gap("0 4 15W * ? *"), Ok(32));
        assert_eq!(gap("0 4 ? * 6L *"), Ok(35)); // the last Friday
        assert_eq!(gap("0 4 ? * MON#1 *"), Ok(35));
        assert_eq!(gap("0 4 ? * 6#5 *"), Ok(119)); // the fifth Friday, in the months that have one
        assert_eq!(gap("0 4 29 2 ? *"), Ok(1461)); // 29 February
        assert_eq!(gap("0 4 1 JAN ? *"), Ok(366));
    }

    #[test]
    fn cron_schedules_that_cannot_be_bounded_are_refused() {
        for cron in
            ["0 4 * * ? 2027", "0 4 30 2 ? *", "0 4 1 13 ? *", "0 4 ? * MON#6 *", "0 4 * *", "0 4 x * ? *"]
        {
            assert!(gap(cron).is_err(), "{cron}");
        }
    }

    #[test]
    fn weekdays_of_the_calendar() {
        // 2026-11-24 is a Tuesday (AWS: 3).
        let mut ordinal = 0i64;
        for year in FIRST_YEAR..2026 {
            ordinal += if days_in_month(year, 2) == 29 { 366 } else { 365 };
        }
        ordinal += (1..11).map(|m| days_in_month(2026, m) as i64).sum::<i64>() + 24;
        assert_eq!(weekday(ordinal), 3);
        assert_eq!(weekday(1), 2, "2001-01-01 was a Monday");
    }
}
