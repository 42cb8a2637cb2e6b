//! One launched browser of a session: the Chromium process, chromiumoxide's connection and its
//! handler task, and the page with the bridge installed. [`Browser::next`] yields the page's
//! bridge events and, once, the browser's death — learnt from whichever comes first: the CDP
//! handler's first error (after which it is never polled again: after a `kill -9` it would
//! hang), the process exiting, or a crash event of the page.

use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::inspector;
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, RemoveScriptToEvaluateOnNewDocumentParams, ScriptIdentifier,
    SetWebLifecycleStateParams, SetWebLifecycleStateState,
};
use chromiumoxide::cdp::browser_protocol::target::{self, CloseTargetParams, GetTargetsParams};
use chromiumoxide::cdp::js_protocol::runtime::{AddBindingParams, EventBindingCalled};
use chromiumoxide::error::CdpError;
use chromiumoxide::handler::HandlerConfig;
use chromiumoxide::listeners::EventStream;
use chromiumoxide::Page;
use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::chromium::{describe, ChromiumProcess, LaunchSpec};
use crate::sites::whatsapp::bridge::BINDING;

/// What a running browser says.
pub(crate) enum Signal {
    /// A bridge event (the binding's JSON payload).
    Page(String),
    /// The browser is dead: why.
    Died(String),
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) struct Browser {
    pub process: ChromiumProcess,
    pub cdp: chromiumoxide::Browser,
    pub page: Page,
    pub script: ScriptIdentifier,
    _handler: AbortOnDrop,
    death: Option<oneshot::Receiver<String>>,
    bindings: EventStream<EventBindingCalled>,
    target_crashed: EventStream<target::EventTargetCrashed>,
    page_crashed: EventStream<inspector::EventTargetCrashed>,
}

/// A chromiumoxide error as people read it (a page exception shows its own message).
pub(crate) fn cdp_error(e: &CdpError) -> String {
    match e {
        CdpError::JavascriptException(d) => d
            .exception
            .as_ref()
            .and_then(|x| x.description.clone())
            .map(|s| s.lines().next().unwrap_or_default().to_string())
            .unwrap_or_else(|| d.text.clone()),
        other => other.to_string(),
    }
}

impl Browser {
    /// Starts Chromium per `spec`, opens `url` with `bridge` injected into every document.
    /// Everything started is killed again when this fails or is cancelled.
    pub async fn launch(spec: &LaunchSpec, bridge: &str, url: &str) -> Result<Browser, String> {
        let (process, ws) = ChromiumProcess::spawn(spec).await.map_err(|e| e.to_string())?;
        let pid = process.pid;
        let setup = async {
            let config = HandlerConfig { request_timeout: Duration::from_secs(60), ..HandlerConfig::default() };
            let (cdp, mut handler) = chromiumoxide::Browser::connect_with_config(ws, config)
                .await
                .map_err(|e| format!("cannot connect to Chromium's DevTools: {e}"))?;
            let (death_tx, death_rx) = oneshot::channel();
            let handler = tokio::spawn(async move {
                let cause = loop {
                    match handler.next().await {
                        Some(Ok(())) => continue,
                        Some(Err(e)) => break format!("the CDP connection failed ({e})"),
                        None => break "the CDP connection closed".to_string(),
                    }
                };
                // The handler is never polled again after its first error.
                let _ = death_tx.send(cause);
            });
            let handler = AbortOnDrop(handler);
            let e = |what: &'static str| move |err: CdpError| format!("{what}: {}", cdp_error(&err));
            let target_crashed = cdp.event_listener::<target::EventTargetCrashed>().await.map_err(e("listen"))?;
            let page = cdp.new_page("about:blank").await.map_err(e("open a page"))?;
            // Close the tab Chromium opened by itself: one renderer less.
            if let Ok(targets) = cdp.execute(GetTargetsParams::default()).await {
                for t in &targets.result.target_infos {
                    if t.r#type == "page" && &t.target_id != page.target_id() {
                        let _ = cdp.execute(CloseTargetParams::new(t.target_id.clone())).await;
                    }
                }
            }
            page.execute(AddBindingParams::new(BINDING)).await.map_err(e("add the bridge binding"))?;
            let bindings = page.event_listener::<EventBindingCalled>().await.map_err(e("listen"))?;
            page.execute(inspector::EnableParams::default()).await.map_err(e("enable Inspector"))?;
            let page_crashed = page.event_listener::<inspector::EventTargetCrashed>().await.map_err(e("listen"))?;
            let script = page
                .execute(AddScriptToEvaluateOnNewDocumentParams::new(bridge))
                .await
                .map_err(e("inject the bridge"))?
                .result
                .identifier;
            page.goto(url).await.map_err(|err| format!("cannot open {url}: {}", cdp_error(&err)))?;
            Ok::<_, String>((cdp, page, script, handler, death_rx, bindings, target_crashed, page_crashed))
        };
        let (cdp, page, script, handler, death, bindings, target_crashed, page_crashed) =
            match tokio::time::timeout(spec.timeout, setup).await {
                Ok(Ok(parts)) => parts,
                Ok(Err(e)) => return Err(format!("{e} (Chromium pid {pid})")),
                Err(_) => return Err(format!("Chromium did not open {url} within {:?}", spec.timeout)),
            };
        Ok(Browser {
            process,
            cdp,
            page,
            script,
            _handler: handler,
            death: Some(death),
            bindings,
            target_crashed,
            page_crashed,
        })
    }

    pub fn pid(&self) -> i32 {
        self.process.pid
    }

    /// The next bridge event, or the browser's death (after which `next` must not be called).
    pub async fn next(&mut self) -> Signal {
        let page_target = self.page.target_id().clone();
        let Browser { death, process, target_crashed, page_crashed, bindings, .. } = self;
        loop {
            let dying = async {
                match death.as_mut() {
                    Some(rx) => rx.await.unwrap_or_else(|_| "the CDP handler stopped".into()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cause = dying => {
                    *death = None;
                    return Signal::Died(cause);
                }
                status = process.child.wait() => {
                    let how = status.map(|s| describe(&s)).unwrap_or_else(|e| e.to_string());
                    return Signal::Died(format!("Chromium exited ({how})"));
                }
                ev = target_crashed.next() => match ev {
                    Some(ev) if ev.target_id == page_target => {
                        return Signal::Died(format!("the page crashed ({}, code {})", ev.status, ev.error_code));
                    }
                    Some(_) => continue,
                    None => return Signal::Died("the browser's event stream ended".into()),
                },
                ev = page_crashed.next() => match ev {
                    Some(_) => return Signal::Died("the page crashed (Inspector.targetCrashed)".into()),
                    None => return Signal::Died("the page's event stream ended".into()),
                },
                ev = bindings.next() => match ev {
                    Some(ev) if ev.name == BINDING => return Signal::Page(ev.payload.clone()),
                    Some(_) => continue,
                    None => return Signal::Died("the page's event stream ended".into()),
                },
            }
        }
    }

    /// Closes the browser cleanly (its profile is flushed), killing it after `within`.
    pub async fn close(mut self, within: Duration) {
        let closed = tokio::time::timeout(within, self.cdp.close()).await;
        let exited = match closed {
            Ok(Ok(_)) => self.process.wait_exit(within).await.is_some(),
            _ => false,
        };
        if !exited {
            tracing::warn!(pid = self.process.pid, "Chromium did not close within {within:?}: killing it");
        }
        self.process.kill_and_reap().await;
    }

    /// After death: kills what is left of the process group and reaps it.
    pub async fn kill(mut self) {
        self.process.kill_and_reap().await;
    }

    /// Replaces the injected bridge: future documents get `source`, and it runs now in the
    /// current one (the bridge disposes of its previous copy). Returns the new registration.
    pub async fn replace_bridge(
        page: &Page,
        old: Option<ScriptIdentifier>,
        source: &str,
    ) -> Result<ScriptIdentifier, String> {
        if let Some(old) = old {
            page.execute(RemoveScriptToEvaluateOnNewDocumentParams::new(old)).await.map_err(|e| cdp_error(&e))?;
        }
        let id = page
            .execute(AddScriptToEvaluateOnNewDocumentParams::new(source))
            .await
            .map_err(|e| cdp_error(&e))?
            .result
            .identifier;
        page.evaluate_expression(source).await.map_err(|e| cdp_error(&e))?;
        Ok(id)
    }

    /// Freezes (`true`) or thaws the page: a frozen page runs no task, so it writes nothing.
    pub async fn freeze(page: &Page, frozen: bool) -> Result<(), String> {
        let state = if frozen { SetWebLifecycleStateState::Frozen } else { SetWebLifecycleStateState::Active };
        page.execute(SetWebLifecycleStateParams::new(state)).await.map(|_| ()).map_err(|e| cdp_error(&e))
    }
}
