//! Phone numbers and WhatsApp ids.

use super::SessionError;

/// Turns what a user writes into a WhatsApp id: `+34 600 000 000`, `34600000000`,
/// `(34) 600-000-000` → `34600000000@c.us`. An id that already ends in `@c.us` or `@g.us` is
/// checked and kept. International format only (country code first), 8 to 15 digits (E.164).
pub fn to_wid(input: &str) -> Result<String, SessionError> {
    let bad = |why: &str| {
        SessionError::BadInput(format!(
            "bad phone number `{input}`: {why}; write it in international format, country code first, e.g. `+34 600 000 000`"
        ))
    };
    let trimmed = input.trim();
    if let Some(group) = trimmed.strip_suffix("@g.us") {
        if !group.is_empty() && group.chars().all(|c| c.is_ascii_digit() || c == '-') {
            return Ok(trimmed.to_string());
        }
        return Err(bad("a group id is digits and dashes before `@g.us`"));
    }
    let number = trimmed.strip_suffix("@c.us").unwrap_or(trimmed);
    let number = number.strip_prefix('+').unwrap_or(number);
    let mut digits = String::with_capacity(number.len());
    for c in number.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(bad(&format!("`{c}` is not a digit"))),
        }
    }
    if digits.starts_with('0') {
        return Err(bad("it starts with 0, so it has no country code"));
    }
    match digits.len() {
        0 => Err(bad("it has no digits")),
        1..=7 => Err(bad("too few digits")),
        8..=15 => Ok(format!("{digits}@c.us")),
        _ => Err(bad("more than 15 digits")),
    }
}

/// [`to_wid`] for a person: a group id (`…@g.us`) is refused, naming it.
pub fn person_wid(input: &str) -> Result<String, SessionError> {
    let wid = to_wid(input)?;
    if wid.ends_with("@g.us") {
        return Err(SessionError::BadInput(format!(
            "`{input}` is a group: sending to groups (and linking them) is not supported yet; write a person's \
             number in international format, e.g. `+34 600 000 000`"
        )));
    }
    Ok(wid)
}

#[cfg(test)]
mod tests {
    use super::{person_wid, to_wid};

    #[test]
    fn groups_are_refused_where_a_person_is_needed() {
        let e = person_wid("120363000000000000-1@g.us").unwrap_err().to_string();
        assert!(e.contains("120363000000000000-1@g.us") && e.contains("not supported"), "{e}");
        assert_eq!(person_wid("+34 600 000 000").unwrap(), "34600000000@c.us");
    }

    #[test]
    fn accepts_the_ways_people_write_numbers() {
        for s in ["+34 600 000 000", "34600000000", "(34) 600-000-000", "34600000000@c.us", " +34.600.000.000 "] {
            assert_eq!(to_wid(s).unwrap(), "34600000000@c.us", "{s}");
        }
        assert_eq!(to_wid("120363000000000000-1@g.us").unwrap(), "120363000000000000-1@g.us");
    }

    #[test]
    fn refuses_with_the_reason_and_the_fix() {
        let e = to_wid("600 000 00a").unwrap_err().to_string();
        assert!(e.contains("`a` is not a digit") && e.contains("+34 600 000 000"), "{e}");
        assert!(to_wid("0600000000").unwrap_err().to_string().contains("country code"));
        assert!(to_wid("+34 600").unwrap_err().to_string().contains("too few digits"));
        assert!(to_wid("1234567890123456").unwrap_err().to_string().contains("more than 15"));
        assert!(to_wid("").unwrap_err().to_string().contains("no digits"));
    }
}
