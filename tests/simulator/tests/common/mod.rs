//! Shared helpers of the Chromium tests: start a simulator, launch Debian's Chromium on a
//! profile directory with the simulator's switches, and talk to the page only through the page
//! internals an independent client uses (`window.Debug`, `window.require(...)`).
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::Page;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use wa_sim::{Options, Simulator};

pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(15);

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Options with the real timings except a QR interval long enough to never rotate mid-test.
pub fn options() -> Options {
    Options {
        qr_interval: Duration::from_secs(60),
        sync_delay: Duration::from_millis(1500),
        ack_delay: Duration::from_millis(200),
        ..Options::default()
    }
}

pub async fn simulator(options: Options) -> Simulator {
    Simulator::start(options).await.expect("the simulator starts")
}

/// Logs of the simulator under `RUST_LOG`, once per test binary.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A Chromium process on one profile, with one page on `https://web.whatsapp.com/`.
pub struct Chromium {
    browser: Browser,
    handler: JoinHandle<()>,
    pub page: Page,
    pub profile: PathBuf,
}

/// Removes the locks a previous Chromium (maybe from another host name) left in the profile.
pub fn clean_locks(profile: &Path) {
    for name in ["SingletonLock", "SingletonSocket", "SingletonCookie"] {
        let _ = std::fs::remove_file(profile.join(name));
    }
}

/// Where Chromium keeps the origin's storage in a profile.
pub fn storage_dirs(profile: &Path) -> [PathBuf; 2] {
    let default = profile.join("Default");
    [default.join("IndexedDB"), default.join("Local Storage")]
}

impl Chromium {
    /// Launches Chromium on `profile` and opens the simulator's page.
    pub async fn launch(sim: &Simulator, profile: &Path) -> Chromium {
        clean_locks(profile);
        let mut config = BrowserConfig::builder()
            .chrome_executable(CHROMIUM)
            .user_data_dir(profile)
            .no_sandbox()
            .launch_timeout(Duration::from_secs(30))
            .request_timeout(Duration::from_secs(30));
        for arg in [
            "disable-gpu",
            "disable-background-networking",
            "disable-component-update",
            "disable-sync",
            "no-first-run",
        ] {
            config = config.arg(arg);
        }
        for switch in sim.chromium_switches() {
            config = config.arg(switch.trim_start_matches("--").to_owned());
        }
        let config = config.build().expect("a browser configuration");
        let (browser, mut handler) = tokio::time::timeout(Duration::from_secs(40), Browser::launch(config))
            .await
            .expect("Chromium launches in time")
            .expect("Chromium launches");
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if let Err(e) = event {
                    tracing::debug!(error = %e, "CDP handler error");
                }
            }
        });
        let page = tokio::time::timeout(WAIT, browser.new_page("https://web.whatsapp.com/"))
            .await
            .expect("the page opens in time")
            .expect("the page opens");
        let chromium = Chromium {
            browser,
            handler,
            page,
            profile: profile.to_owned(),
        };
        chromium.wait_loaded().await;
        chromium
    }

    /// Closes Chromium cleanly (its profile is flushed) and waits for the process to exit.
    pub async fn close(mut self) {
        let closed = tokio::time::timeout(WAIT, self.browser.close()).await;
        if !matches!(closed, Ok(Ok(_))) {
            let _ = self.browser.kill().await;
        }
        let _ = tokio::time::timeout(WAIT, self.browser.wait()).await;
        self.handler.abort();
    }

    /// Evaluates `js` (awaiting a promise) and returns its value; fails after `limit`.
    pub async fn eval_within<T: DeserializeOwned>(&self, js: &str, limit: Duration) -> Result<T, String> {
        match tokio::time::timeout(limit, self.page.evaluate_expression(js)).await {
            Err(_) => Err(format!("no answer within {limit:?}")),
            Ok(Err(e)) => Err(format!("evaluation failed: {e}")),
            Ok(Ok(result)) => {
                // `null` and `undefined` come back as no value at all.
                let value = result.value().cloned().unwrap_or(serde_json::Value::Null);
                serde_json::from_value(value).map_err(|e| format!("unexpected value: {e}"))
            }
        }
    }

    /// Evaluates `js` and returns its value; panics on failure or after [`WAIT`].
    pub async fn eval<T: DeserializeOwned>(&self, js: &str) -> T {
        self.eval_within(js, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e}\n  in: {js}"))
    }

    /// Polls `window.Debug.VERSION` as clients do, until the page has loaded.
    pub async fn wait_loaded(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let loaded = self
                .eval_within::<bool>("window.Debug?.VERSION != undefined", Duration::from_secs(2))
                .await;
            if loaded == Ok(true) {
                return;
            }
            assert!(Instant::now() < deadline, "the page did not load: {loaded:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `Socket.state`.
    pub async fn state(&self) -> String {
        self.eval("window.require('WAWebSocketModel').Socket.state").await
    }

    /// Waits (on `change:state`, inside the page) until `Socket.state` is `want`.
    pub async fn wait_state(&self, want: &str) {
        let js = format!(
            r#"new Promise((resolve, reject) => {{
                const S = window.require('WAWebSocketModel').Socket;
                if (S.state === {want:?}) return resolve(true);
                const timer = setTimeout(() => {{ S.off('change:state', on); reject(new Error('state is ' + S.state)); }}, {ms});
                function on(_s, state) {{ if (state === {want:?}) {{ clearTimeout(timer); S.off('change:state', on); resolve(true); }} }}
                S.on('change:state', on);
            }})"#,
            ms = WAIT.as_millis() - 1000
        );
        let _: bool = self.eval(&js).await;
    }

    /// Waits (on `change:hasSynced`) until `Socket.hasSynced` is true.
    pub async fn wait_synced(&self) {
        let js = format!(
            r#"new Promise((resolve, reject) => {{
                const S = window.require('WAWebSocketModel').Socket;
                if (S.hasSynced) return resolve(true);
                const timer = setTimeout(() => reject(new Error('not synced; state ' + S.state)), {ms});
                S.on('change:hasSynced', (_s, v) => {{ if (v) {{ clearTimeout(timer); resolve(true); }} }});
            }})"#,
            ms = WAIT.as_millis() - 1000
        );
        let _: bool = self.eval(&js).await;
    }

    /// The QR text built the way whatsapp-web.js builds it (`Client.inject`), from
    /// `Conn.ref` and the merged registration utils.
    pub async fn qr(&self) -> String {
        self.eval(QR_JS).await
    }

    /// Waits for the QR screen and returns the QR.
    pub async fn wait_qr(&self) -> String {
        self.wait_state("UNPAIRED").await;
        self.qr().await
    }

    /// The wid `WAWebUserPrefsMeUser.getMaybeMePnUser()` returns, if any.
    pub async fn me(&self) -> Option<String> {
        self.eval("window.require('WAWebUserPrefsMeUser').getMaybeMePnUser()?._serialized ?? null")
            .await
    }

    /// Scans this page's QR as `me` and waits until it is connected and synced.
    pub async fn pair(&self, sim: &Simulator, me: &str) {
        let qr = self.wait_qr().await;
        sim.client().scan(Some(&qr), Some(me)).await.expect("the scan is accepted");
        self.wait_state("CONNECTED").await;
        self.wait_synced().await;
    }

    /// Sends `body` to `to` through the chain whatsapp-web.js uses (`WWebJS.sendMessage`), then
    /// waits until the message's ack is at least `ack`. Returns the message key and the acks seen.
    pub async fn send_text(&self, to: &str, body: &str, ack: i32) -> Result<SentText, String> {
        let js = SEND_JS
            .replace("__TO__", &serde_json::to_string(to).unwrap())
            .replace("__BODY__", &serde_json::to_string(body).unwrap())
            .replace("__ACK__", &ack.to_string());
        self.eval_within(&js, WAIT).await
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct SentText {
    pub id: String,
    pub acks: Vec<i32>,
    pub ack: i32,
    pub added_as_new: bool,
    pub returned_array: bool,
    pub result: String,
}

const QR_JS: &str = r#"(async () => {
    const RegistrationUtils = {
        ...window.require('WAWebCompanionRegClientUtils'),
        ...window.require('WAWebAdvSignatureApi'),
        ...window.require('WAWebUserPrefsInfoStore'),
        ...window.require('WAWebSignalStoreApi'),
    };
    const Base64Tools = window.require('WABase64');
    const registrationInfo = await RegistrationUtils.waSignalStore.getRegistrationInfo();
    const noiseKeyPair = await RegistrationUtils.waNoiseInfo.get();
    return [
        window.require('WAWebConnModel').Conn.ref,
        Base64Tools.encodeB64(noiseKeyPair.staticKeyPair.pubKey),
        Base64Tools.encodeB64(registrationInfo.identityKeyPair.pubKey),
        window.require('WAWebUserPrefsMultiDevice').getADVSecretKey(),
        RegistrationUtils.DEVICE_PLATFORM,
    ].join(',');
})()"#;

const SEND_JS: &str = r#"(async () => {
    const { Msg, Chat } = window.require('WAWebCollections');
    const chatWid = window.require('WAWebWidFactory').createWid(__TO__);
    const chat = Chat.get(chatWid) ||
        (await window.require('WAWebFindChatAction').findOrCreateLatestChat(chatWid))?.chat;
    const { getIsNewsletter, getIsBroadcast } = window.require('WAWebChatGetters');
    if (getIsNewsletter(chat) || getIsBroadcast(chat)) throw new Error('not a user chat');
    window.require('WALinkify').findLink(__BODY__);
    const { getMaybeMeLidUser, getMaybeMePnUser } = window.require('WAWebUserPrefsMeUser');
    const from = chat.id.isLid() ? getMaybeMeLidUser() : getMaybeMePnUser();
    const newId = await window.require('WAWebMsgKey').newId();
    const key = new (window.require('WAWebMsgKey'))({ from, to: chat.id, id: newId, participant: undefined, selfDir: 'out' });
    const ephemeralFields = window.require('WAWebGetEphemeralFieldsMsgActionsUtils').getEphemeralFields(chat);
    const message = {
        id: key, ack: 0, body: __BODY__, from, to: chat.id, local: true, self: 'out',
        t: parseInt(new Date().getTime() / 1000), isNewMsg: true, type: 'chat', ...ephemeralFields,
    };
    const acks = [];
    let addedAsNew = false;
    const onAck = (msg, ack) => { if (msg.id._serialized === key._serialized) acks.push(ack); };
    const onAdd = (msg) => { if (msg.id._serialized === key._serialized && msg.isNewMsg) addedAsNew = true; };
    Msg.on('change:ack', onAck);
    Msg.on('add', onAdd);
    const returned = window.require('WAWebSendMsgChatAction').addAndSendMsgToChat(chat, message);
    const returnedArray = Array.isArray(returned) && returned.length === 2;
    const [msgPromise, sendMsgResultPromise] = returned;
    await msgPromise;
    const result = await sendMsgResultPromise;
    const msg = Msg.get(key._serialized);
    await new Promise((resolve) => {
        if (msg.ack >= __ACK__) return resolve();
        const timer = setTimeout(resolve, 5000);
        msg.on('change:ack', (_m, ack) => { if (ack >= __ACK__) { clearTimeout(timer); resolve(); } });
    });
    Msg.off('change:ack', onAck);
    Msg.off('add', onAdd);
    return { id: key._serialized, acks, ack: msg.ack, added_as_new: addedAsNew, returned_array: returnedArray, result: result.messageSendResult };
})()"#;

/// Polls `check` every 100 ms until it returns `Some`, for at most [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
