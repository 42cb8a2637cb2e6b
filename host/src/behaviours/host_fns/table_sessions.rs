//! The declarations of the session functions (WIT interface `sessions`). Reading needs
//! `sessions.read`, sending `sessions.send`, acting on a session `sessions.control`.

use super::Ty::*;
use super::{opt, req, HostFn, Out, Ret, SessionRecord, BASE};
use crate::config::Capability::{SessionsControl, SessionsRead, SessionsSend};

pub(super) static ALL: &[&HostFn] = &[
    &SESSIONS,
    &STATE,
    &PING,
    &RESOURCES,
    &SEND_TEXT,
    &ACTIVITY,
    &RESTART,
    &MARK,
    &TOUCH,
    &PAIRING_CODE,
    &BACKUP,
    &REMOVE_ORPHAN_FOLDERS,
];

/// How long `state` and `ping` wait when the call gives no timeout.
const PAGE_TIMEOUT: Option<&str> = Some("5s");

pub(crate) static SESSIONS: HostFn = HostFn {
    name: "sessions",
    interface: "sessions",
    ret: Ret::Value(Sessions),
    capability: Some(SessionsRead),
    doc: "Every session, as maps: `id`, `label`, `phone`, `status` (`starting`, `qr`, `pairing`, `ready`, \
          `disconnected`, `error`, `stopped`, `logged_out`), `wa_state` (WhatsApp's own, `CONNECTED`…), \
          `last_seen` (Unix seconds), `owner`, `error`, `running`, and (rhai only) `site_version`, \
          `healthy_site_version`.",
    call: |a| Ok(Out::Sessions(a.api().sessions()?.into_iter().map(SessionRecord::from).collect())),
    ..BASE
};

pub(crate) static STATE: HostFn = HostFn {
    name: "state",
    interface: "sessions",
    args: &[req("id", Str), opt("timeout", Duration, PAGE_TIMEOUT)],
    ret: Ret::Value(Str),
    capability: Some(SessionsRead),
    doc: "WhatsApp's state from the page (`CONNECTED`, …), waiting at most `timeout` (default `\"5s\"`).",
    call: |a| Ok(Out::Str(a.api().state(&a.str(0)?, a.duration(1)?)?)),
    ..BASE
};

pub(crate) static PING: HostFn = HostFn {
    name: "ping",
    interface: "sessions",
    args: &[req("id", Str), opt("timeout", Duration, PAGE_TIMEOUT)],
    ret: Ret::Value(Count),
    capability: Some(SessionsRead),
    doc: "A round trip into the page, in milliseconds, waiting at most `timeout` (default `\"5s\"`).",
    call: |a| Ok(Out::Count(a.api().ping(&a.str(0)?, a.duration(1)?)?.as_millis() as u64)),
    ..BASE
};

pub(crate) static RESOURCES: HostFn = HostFn {
    name: "resources",
    interface: "sessions",
    args: &[req("id", Str)],
    ret: Ret::Value(Json),
    capability: Some(SessionsRead),
    doc: "What the session's browser costs, as a map: `memory_bytes` (PSS of its process tree), `cpu_seconds`, \
          `processes`, `sampled_at`, `sends_in_flight`, `memory_history` (oldest first); `()` while it is not \
          running or not yet measured.",
    call: |a| Ok(Out::Json(a.api().resources(&a.str(0)?)?)),
    ..BASE
};

pub(crate) static SEND_TEXT: HostFn = HostFn {
    name: "send_text",
    interface: "sessions",
    args: &[req("id", Str), req("to", Phone), req("text", Str), opt("key", Str, None)],
    ret: Ret::Value(Str),
    capability: Some(SessionsSend),
    doc: "Sends `text` to `to` (a phone number such as `\"+34 600 000 000\"`) from session `id`, waits for the \
          server's ack and returns the message id. With a `key`, a second send with the same key (per host run) \
          sends nothing and returns the first id.",
    call: |a| Ok(Out::Str(a.api().send_text(&a.str(0)?, &a.phone(1)?, &a.str(2)?, a.opt_str(3)?.as_deref())?)),
    ..BASE
};

pub(crate) static ACTIVITY: HostFn = HostFn {
    name: "activity",
    interface: "sessions",
    args: &[req("id", Str)],
    capability: Some(SessionsControl),
    doc: "A small real mouse movement in the session's page.",
    call: |a| {
        a.api().activity(&a.str(0)?)?;
        Ok(Out::Unit)
    },
    ..BASE
};

pub(crate) static RESTART: HostFn = HostFn {
    name: "restart",
    interface: "sessions",
    args: &[req("id", Str), req("reason", Str)],
    capability: Some(SessionsControl),
    doc: "Restarts the session's browser, giving `reason`.",
    call: |a| {
        a.api().restart(&a.str(0)?, &a.str(1)?)?;
        Ok(Out::Unit)
    },
    ..BASE
};

pub(crate) static MARK: HostFn = HostFn {
    name: "mark",
    interface: "sessions",
    args: &[req("id", Str), req("status", Str), req("reason", Str)],
    capability: Some(SessionsControl),
    doc: "Sets the session's status (one of those `sessions()` lists), giving `reason`.",
    call: |a| {
        a.api().mark(&a.str(0)?, &a.str(1)?, &a.str(2)?)?;
        Ok(Out::Unit)
    },
    ..BASE
};

pub(crate) static TOUCH: HostFn = HostFn {
    name: "touch",
    interface: "sessions",
    args: &[req("id", Str)],
    capability: Some(SessionsControl),
    doc: "Records that the session was seen alive now (`last_seen`).",
    call: |a| {
        a.api().touch(&a.str(0)?)?;
        Ok(Out::Unit)
    },
    ..BASE
};

pub(crate) static PAIRING_CODE: HostFn = HostFn {
    name: "pairing_code",
    interface: "sessions",
    args: &[req("id", Str), req("phone", Str)],
    ret: Ret::Value(Str),
    capability: Some(SessionsControl),
    doc: "Links the session by phone number instead of a QR (WhatsApp → Linked devices → Link with phone number): \
          returns the 8-character code to type on the phone `phone` (`\"+34 600 000 000\"`), renewed while the \
          session is not linked (event `session.pairing_code`); a group or a bad number is refused.",
    call: |a| Ok(Out::Str(a.api().pairing_code(&a.str(0)?, &a.str(1)?)?)),
    ..BASE
};

pub(crate) static BACKUP: HostFn = HostFn {
    name: "backup",
    interface: "sessions",
    args: &[req("id", Str)],
    ret: Ret::Value(Str),
    capability: Some(SessionsControl),
    doc: "Backs up the session's profile (the host keeps the configured number); returns the backup's name.",
    call: |a| Ok(Out::Str(a.api().backup(&a.str(0)?)?)),
    ..BASE
};

pub(crate) static REMOVE_ORPHAN_FOLDERS: HostFn = HostFn {
    name: "remove_orphan_folders",
    interface: "sessions",
    args: &[req("min_age", Duration)],
    ret: Ret::Value(Names),
    capability: Some(SessionsControl),
    doc: "Removes the folders under `data_dir/sessions` with no session record and no browser, unchanged for at \
          least `min_age` (`\"1h\"`); only real folders named like a session id, symlinks never followed. Returns \
          their ids (a host that runs no browsers removes nothing).",
    call: |a| Ok(Out::Names(a.api().remove_orphan_folders(a.duration(0)?)?)),
    ..BASE
};
