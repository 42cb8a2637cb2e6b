//! The Chromium switches that present a session's page as a desktop browser, as independent
//! clients do (whatsapp-web.js sets a desktop user agent; WAHA and Evolution API also pass
//! `--disable-blink-features=AutomationControlled`): headless Chromium otherwise says
//! `HeadlessChrome` in its user agent and `navigator.webdriver === true`.

/// The user agent of `sessions.desktop` when `sessions.user_agent` is unset.
pub(crate) const DEFAULT_USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// The switches for `sessions.desktop` (none when it is off).
pub(crate) fn switches(desktop: bool, user_agent: Option<&str>) -> Vec<String> {
    if !desktop {
        return Vec::new();
    }
    let agent = user_agent.map(str::trim).filter(|a| !a.is_empty()).unwrap_or(DEFAULT_USER_AGENT);
    vec![format!("--user-agent={agent}"), "--disable-blink-features=AutomationControlled".to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_by_choice_with_the_default_or_a_chosen_agent() {
        assert!(switches(false, None).is_empty());
        let on = switches(true, None);
        assert_eq!(on[0], format!("--user-agent={DEFAULT_USER_AGENT}"));
        assert!(!on[0].contains("Headless"));
        assert_eq!(on[1], "--disable-blink-features=AutomationControlled");
        assert_eq!(switches(true, Some("Agent/1"))[0], "--user-agent=Agent/1");
    }
}
