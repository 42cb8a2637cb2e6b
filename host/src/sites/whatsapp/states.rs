//! WhatsApp Web's own states (`Socket.state`) and what each means for a session.

/// What a WhatsApp state means for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Still loading (`OPENING`, `UNLAUNCHED`, or the bridge's `LOADING`).
    Loading,
    /// The QR screen (`UNPAIRED`, `UNPAIRED_IDLE`): not linked.
    Qr,
    /// A scan was accepted; the device is being linked.
    Pairing,
    /// Linked and online.
    Connected,
    /// Online elsewhere or offline: the reason, for people.
    Disconnected(String),
}

/// Classifies a state as the page spells it.
pub fn classify(state: &str) -> Phase {
    match state {
        "OPENING" | "UNLAUNCHED" | "LOADING" | "" => Phase::Loading,
        "UNPAIRED" | "UNPAIRED_IDLE" => Phase::Qr,
        "PAIRING" => Phase::Pairing,
        "CONNECTED" => Phase::Connected,
        "CONFLICT" => Phase::Disconnected("CONFLICT: WhatsApp Web is open in another window or device".into()),
        "TIMEOUT" => Phase::Disconnected("TIMEOUT: the phone or the network does not answer".into()),
        "PROXYBLOCK" => Phase::Disconnected("PROXYBLOCK: a proxy blocks WhatsApp".into()),
        "TOS_BLOCK" | "SMB_TOS_BLOCK" => {
            Phase::Disconnected(format!("{state}: blocked by WhatsApp's terms of service"))
        }
        "DEPRECATED_VERSION" => Phase::Disconnected("DEPRECATED_VERSION: this WhatsApp Web version is too old".into()),
        other => Phase::Disconnected(format!("{other}: unknown WhatsApp state")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_to_phases() {
        assert_eq!(classify("OPENING"), Phase::Loading);
        assert_eq!(classify("UNPAIRED_IDLE"), Phase::Qr);
        assert_eq!(classify("PAIRING"), Phase::Pairing);
        assert_eq!(classify("CONNECTED"), Phase::Connected);
        assert!(matches!(classify("CONFLICT"), Phase::Disconnected(r) if r.starts_with("CONFLICT")));
        assert!(matches!(classify("WEIRD"), Phase::Disconnected(r) if r.contains("unknown")));
    }
}
