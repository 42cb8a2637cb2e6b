//! Calls into a running session's page, each bounded by a timeout.

use super::*;

impl SessionManager {
    pub(in crate::sessions) fn running_page(
        &self,
        id: &SessionId,
        what: &str,
    ) -> Result<(Arc<SessionCell>, chromiumoxide::Page), SessionError> {
        let cell = self.cell(id)?;
        match cell.page() {
            Some(p) => Ok((cell, p)),
            None => Err(SessionError::NotReady { id: id.into(), status: cell.status(), what: what.into() }),
        }
    }

    pub(in crate::sessions) async fn eval(
        &self,
        id: &SessionId,
        page: &chromiumoxide::Page,
        what: &str,
        js: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value, SessionError> {
        match tokio::time::timeout(timeout, page.evaluate_expression(js)).await {
            Err(_) => Err(SessionError::Timeout { id: id.into(), what: what.into(), after: timeout }),
            Ok(Err(e)) => Err(failed(id, format!("{what}: {}", cdp_error(&e)))),
            Ok(Ok(r)) => Ok(r.value().cloned().unwrap_or(serde_json::Value::Null)),
        }
    }
}
