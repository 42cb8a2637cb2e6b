// app.js — the simulated WhatsApp Web: `window.Debug.VERSION`, `window.require(name)` with the
// modules whatsapp-web.js 1.34.7 reads (shared/SIMULATOR.md), and the page's life: restore or QR,
// pairing, sync, sends, incoming messages, logout, forced states and faults. The server side is
// this origin's /api/ (hub.rs); pushes arrive on an EventSource. The page never navigates except
// to log out (to /?post_logout=1).

const VERSION = "__WA_SIM_VERSION__";
// The site of this load (site.rs): missing and late modules, async ADV getter, logout events.
const SITE = __WA_SIM_SITE__;
const DEVICE_PLATFORM = 1;
const sim = { page: null, syncDelayMs: 1500, fault: { kind: 'none' }, events: null, me: null };

// ---- the server ----

const post = async (path, body) => {
    const response = await fetch(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ page: sim.page, ...body }),
    });
    if (!response.ok) {
        let message = response.statusText;
        try { message = (await response.json()).error; } catch (_) { /* not JSON */ }
        throw new Error(`${path}: ${response.status} ${message}`);
    }
    return response.status === 204 ? null : response.json();
};

// ---- window.require ----

const registry = new Map();
const asked = new Set();
let unreported = [];
let reportTimer = null;

const reportModules = () => {
    reportTimer = null;
    if (!sim.page || !unreported.length) return;
    const names = unreported;
    unreported = [];
    post('/api/required', { names, unknown: names.filter((n) => !registry.has(n)) }).catch(() => {
        unreported.push(...names);
    });
};

const scheduleReport = () => {
    if (!reportTimer) reportTimer = setTimeout(reportModules, 50);
};

// A module this version lacks is never defined; a late one is defined SITE.lateMs after load.
const missingModules = new Set(SITE.missing);
const lateModules = new Set(SITE.lateMs > 0 ? SITE.late : []);
const deferred = [];
const define = (name, exports) => {
    if (missingModules.has(name)) return;
    if (lateModules.has(name)) deferred.push([name, exports]);
    else registry.set(name, exports);
};

window.require = function require(name) {
    if (!asked.has(name)) {
        asked.add(name);
        unreported.push(name);
        scheduleReport();
    }
    if (!registry.has(name)) throw new Error(`Requiring unknown module "${name}"`);
    return registry.get(name);
};
window.Debug = { VERSION };

// ---- keys shown in the QR ----

const randomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));
const toBytes = (data) => {
    if (data instanceof Uint8Array) return data;
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return Uint8Array.from(data);
};
const encodeB64 = (data) => btoa(String.fromCharCode(...toBytes(data)));
const decodeB64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0)).buffer;
const keyPair = () => ({ pubKey: randomBytes(32).buffer, privKey: randomBytes(32).buffer });
const noiseInfo = { staticKeyPair: keyPair(), routingInfo: null };
const registrationInfo = { registrationId: (randomBytes(2)[0] << 6) | 1, identityKeyPair: keyPair() };
let advSecretKey = encodeB64(randomBytes(32));
// The current site's getter is async (WAWebAdvSignatureApi); the old one was synchronous.
const getADVSecretKey = () => (SITE.advAsync ? new Promise((resolve) => setTimeout(() => resolve(advSecretKey), 5)) : advSecretKey);

const rotateAdv = async () => {
    const next = encodeB64(randomBytes(32));
    await post('/api/keys', { adv: next });
    advSecretKey = next;
    render();
};

// ---- the models ----

class SocketModel extends Model {
    async logout() {
        await logoutHere();
    }

    takeover() {
        if (this.state === 'CONFLICT') {
            this.state = 'OPENING';
            setTimeout(() => { if (sim.me) this.state = 'CONNECTED'; }, 50);
        }
    }

    poke() {}
}

class MsgModel extends Model {
    get isEphemeral() { return Boolean(this.get('ephemeralDuration')); }
    get isStatusV3() { return Boolean(this.get('id') && this.get('id').remote && this.get('id').remote.isStatus && this.get('id').remote.isStatus()); }
    get mediaObject() { return undefined; }

    updateAck(ack) {
        if (ack > (this.ack || 0)) this.ack = ack;
    }
}

class ChatModel extends Model {
    constructor(attrs) {
        super({ unreadCount: 0, archive: false, isReadOnly: false, pin: 0, muteExpiration: 0, ...attrs });
        hidden(this, 'msgs', new Collection(MsgModel));
        hidden(this, 'mute', { expiration: 0, isMuted: false });
    }

    get formattedTitle() {
        return this.get('name') || '+' + this.get('id').user;
    }

    serialize() {
        return { ...super.serialize(), msgs: this.msgs.serialize() };
    }
}

const Socket = new SocketModel({ state: 'OPENING', hasSynced: false, stream: 'DISCONNECTED' });
const Conn = new Model({ ref: null, battery: 100, plugged: true, platform: 'android', pushname: null, wid: null });
Conn.canSetMyPushname = () => true;
const Stream = new Model({ available: false, mode: 'QR', info: undefined, displayInfo: 'OPENING' });
Stream.markAvailable = () => { Stream.available = true; };
Stream.markUnavailable = () => { Stream.available = false; };
const Cmd = new Emitter();
const Msg = new Collection(MsgModel);
const Chat = new Collection(ChatModel);
const Contact = new Collection(Model);
let offlineProgress = 0;

const meWid = () => (sim.me ? createWid(sim.me + '@c.us') : null);

const chatFor = (wid) => {
    const id = createWid(wid);
    return Chat.get(id) || Chat.add(new ChatModel({ id, t: Math.floor(Date.now() / 1000) }));
};

Cmd.refreshQR = () => {
    if (sim.me || !sim.page) return;
    post('/api/qr/refresh', {}).then((r) => showQr(r.ref)).catch((e) => console.error('[wa-sim] refreshQR', e));
};
Cmd.archiveChat = async (chat, archive) => {
    chat.archive = Boolean(archive);
    return true;
};
Cmd.markChatUnread = async (chat, unread) => {
    chat.unreadCount = unread ? -1 : 0;
};

// ---- sending ----

const findLinks = (text) => {
    const found = [];
    const re = /\b((?:https?:\/\/|www\.)[^\s<>"']+)/gi;
    let m;
    while ((m = re.exec(String(text || '')))) {
        const url = m[1].replace(/[.,;:!?)]+$/, '');
        found.push({ url, href: /^https?:/i.test(url) ? url : 'http://' + url, index: m.index, suspiciousCharacters: undefined });
    }
    return found;
};

const addAndSendMsgToChat = (chat, data) => {
    const msg = data instanceof MsgModel ? data : new MsgModel({ ...data });
    if (msg.get('isNewMsg') === undefined) msg.set({ isNewMsg: true }, { silent: true });
    if (msg.get('ack') === undefined) msg.set({ ack: 0 }, { silent: true });
    const added = Promise.resolve().then(() => {
        Msg.add(msg);
        chat.msgs.add(msg);
        chat.t = msg.t;
        return msg;
    });
    const sent = added.then(async () => {
        try {
            const to = msg.to || msg.id.remote;
            const preview = msg.get('subtype') === 'url' ? (msg.get('canonicalUrl') || msg.get('matchedText') || null) : null;
            const r = await post('/api/send', { id: msg.id._serialized, to: to._serialized || String(to), body: String(msg.body ?? ''), link_preview: preview });
            msg.updateAck(1);
            return { messageSendResult: 'OK', t: r.t };
        } catch (e) {
            msg.ack = -1;
            return { messageSendResult: 'ERROR', error: String(e) };
        }
    });
    return [added, sent];
};

// ---- the modules ----

define('WAWebSocketModel', { Socket, SocketModel });
define('WAWebCmd', { Cmd });
define('WAWebConnModel', { Conn });
define('WAWebStreamModel', { Stream });
define('WAWebOfflineHandler', { OfflineMessageHandler: { getOfflineDeliveryProgress: () => offlineProgress } });
define('WABase64', { encodeB64, decodeB64, encodeB64UrlSafe: (d) => encodeB64(d).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') });
define('WAWebNoiseInfo', { get: async () => noiseInfo });
define('WAWebCompanionRegClientUtils', { DEVICE_PLATFORM, waNoiseInfo: { get: async () => noiseInfo } });
define('WAWebAdvSignatureApi', { getADVSecretKey });
define('WAWebUserPrefsInfoStore', { getPlatform: () => 'web' });
define('WAWebSignalStoreApi', {
    getRegistrationInfo: async () => registrationInfo,
    waSignalStore: { getRegistrationInfo: async () => registrationInfo },
});
define('WAWebUserPrefsMultiDevice', { getADVSecretKey });
define('WAWebUserPrefsMeUser', {
    getMaybeMePnUser: meWid,
    getMaybeMeLidUser: meWid,
    getMaybeMeUser: meWid,
    getMeUser: () => { const w = meWid(); if (!w) throw new Error('wa-sim: not logged in'); return w; },
    getMePnUserOrThrow: () => { const w = meWid(); if (!w) throw new Error('wa-sim: not logged in'); return w; },
});
define('WAWebLaunchSocketUtils', { refreshQR: () => Cmd.refreshQR() });
// Link with phone number: setPairingType('ALT_DEVICE_LINKING'), initializeAltDeviceLinking(),
// startAltLinkingFlow(phone, showNotification) → the 8-character code the user types on the phone.
const altLinking = { type: 'QR_CODE', initialized: false, code: null };
define('WAWebAltDeviceLinkingApi', {
    initializeQRLinking: async () => {
        altLinking.type = 'QR_CODE';
        altLinking.initialized = false;
        Cmd.refreshQR();
    },
    setPairingType: (type) => { altLinking.type = type; },
    getPairingType: () => altLinking.type,
    initializeAltDeviceLinking: async () => {
        if (sim.me) throw new Error('wa-sim: already linked');
        altLinking.initialized = true;
    },
    startAltLinkingFlow: async (phone, _showNotification) => {
        if (altLinking.type !== 'ALT_DEVICE_LINKING' || !altLinking.initialized) {
            throw new Error("wa-sim: call setPairingType('ALT_DEVICE_LINKING') and initializeAltDeviceLinking() first");
        }
        if (sim.me || !sim.page) throw new Error('wa-sim: not on the linking screen');
        const r = await post('/api/pairing-code', { phone: String(phone) });
        altLinking.code = r.code;
        render();
        return r.code;
    },
});
define('WAWebPairingType', { PairingType: { QR_CODE: 'QR_CODE', ALT_DEVICE_LINKING: 'ALT_DEVICE_LINKING' } });
// The link-preview path a text with a URL takes (whatsapp-web.js: Store.LinkPreview).
define('WAWebLinkPreviewChatAction', {
    getLinkPreview: async (link) => {
        const url = link && (link.href || link.url);
        if (!url) return null;
        return { data: { title: 'wa-sim preview of ' + url, description: '', canonicalUrl: url, matchedText: link.url || url, richPreviewType: 0, doNotPlayInline: true } };
    },
});
define('WAWebCollections', { Msg, Chat, Contact });
define('WAWebSyncGatingUtils', { isPlaceholderMessageResendEnabled: () => false });
define('WAWebWidFactory', {
    createWid,
    createUserWid: (user, server = 'c.us') => createWid(`${user}@${server}`),
    asUserWidOrThrow: (w) => { const wid = createWid(w); if (!wid.isUser()) throw new Error('wa-sim: not a user wid'); return wid; },
    isWid: (w) => w instanceof Wid,
});
define('WAWebFindChatAction', {
    findOrCreateLatestChat: async (wid) => {
        const existing = Chat.get(createWid(wid));
        return { chat: existing || chatFor(wid), created: !existing };
    },
});
define('WAWebMsgKey', MsgKey);
define('WAWebGetEphemeralFieldsMsgActionsUtils', {
    getEphemeralFields: (chat) => ({ ephemeralDuration: (chat && chat.get && chat.get('ephemeralDuration')) || 0, ephemeralSettingTimestamp: 0, disappearingModeInitiator: 'chat' }),
});
define('WAWebChatGetters', {
    getIsNewsletter: (chat) => Boolean(chat && chat.id && chat.id.server === 'newsletter'),
    getIsBroadcast: (chat) => Boolean(chat && chat.id && chat.id.server === 'broadcast'),
    getIsGroup: (chat) => Boolean(chat && chat.id && chat.id.server === 'g.us'),
});
define('WALinkify', { findLinks, findLink: (text) => findLinks(text)[0] || null });
define('WAWebUpdateUnreadChatAction', {
    sendSeen: async ({ chat }) => {
        if (chat) chat.unreadCount = 0;
    },
});
define('WAWebSendMsgChatAction', { addAndSendMsgToChat });
define('WAWebMiscBrowserUtils', { info: () => ({ name: 'Chrome', version: navigator.userAgent, os: 'Linux' }) });
// whatsapp-web.js wraps these two at load (LoadUtils → injectToFunction).
define('WAWebBackendJobsCommon', { mediaTypeFromProtobuf: () => null });
define('WAWebE2EProtoUtils', { typeAttributeFromProtobuf: () => 'text' });
define('WAWebCallCollection', Object.assign(new Collection(Model), { calls: new Map() }));
if (deferred.length) {
    setTimeout(() => {
        for (const [name, exports] of deferred) registry.set(name, exports);
    }, SITE.lateMs);
}

// ---- storage: the origin's localStorage and IndexedDB ----

const LS_TOKEN = 'WAToken1';
const LS_ME = 'last-wid-md';
const LS_BROWSER = 'WABrowserId';

const idbOpen = () =>
    new Promise((resolve, reject) => {
        const request = indexedDB.open('wawc', 1);
        request.onupgradeneeded = () => request.result.createObjectStore('user');
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
        request.onblocked = () => reject(new Error('wa-sim: IndexedDB blocked'));
    });

const idbRun = async (mode, work) => {
    const db = await idbOpen();
    try {
        return await new Promise((resolve, reject) => {
            const tx = db.transaction('user', mode, { durability: 'strict' });
            const request = work(tx.objectStore('user'));
            tx.oncomplete = () => resolve(request.result);
            tx.onerror = () => reject(tx.error);
            tx.onabort = () => reject(tx.error);
        });
    } finally {
        db.close();
    }
};

const readSession = async () => {
    const token = localStorage.getItem(LS_TOKEN);
    let me = null;
    try { me = JSON.parse(localStorage.getItem(LS_ME) || 'null'); } catch (_) { me = null; }
    let stored = null;
    try { stored = await idbRun('readonly', (s) => s.get('session')); } catch (_) { stored = null; }
    if (token && me && stored && stored.token === token && stored.me === me) return { token, me };
    if (token || me || stored) {
        console.warn('[wa-sim] stored session incomplete or inconsistent: showing the QR');
        await clearSession();
    }
    return null;
};

const writeSession = async (me, token) => {
    localStorage.setItem(LS_TOKEN, token);
    localStorage.setItem(LS_ME, JSON.stringify(me + '@c.us'));
    await idbRun('readwrite', (s) => s.put({ token, me: me + '@c.us' }, 'session'));
};

const clearSession = async () => {
    localStorage.removeItem(LS_TOKEN);
    localStorage.removeItem(LS_ME);
    try { await idbRun('readwrite', (s) => s.delete('session')); } catch (_) { /* nothing stored */ }
};

const browserId = () => {
    let id = localStorage.getItem(LS_BROWSER);
    if (!id) {
        id = encodeB64(randomBytes(16));
        localStorage.setItem(LS_BROWSER, id);
    }
    return id;
};

// ---- the page's life ----

const reportState = () => {
    render();
    if (sim.page) post('/api/state', { state: Socket.state, has_synced: Boolean(Socket.hasSynced) }).catch(() => {});
};
Socket.on('change:state change:hasSynced', reportState);
Conn.on('change:ref', render);

function render() {
    const set = (id, text) => { const el = document.getElementById(id); if (el) el.textContent = text; };
    set('state', Socket.state + (Socket.hasSynced ? ' (synced)' : ''));
    set('me', sim.me ? '+' + sim.me : '');
    const onQr = Socket.state === 'UNPAIRED' && Conn.ref;
    set('qr', onQr ? qrText(Conn.ref) : '');
    set('code', !sim.me && altLinking.code ? altLinking.code : '');
}

const qrText = (ref) =>
    [ref, encodeB64(noiseInfo.staticKeyPair.pubKey), encodeB64(registrationInfo.identityKeyPair.pubKey), advSecretKey, DEVICE_PLATFORM].join(',');

function showQr(ref) {
    sim.me = null;
    Socket.hasSynced = false;
    Stream.mode = 'QR';
    Conn.ref = ref;
    Socket.state = 'UNPAIRED';
}

function connected(me) {
    sim.me = me;
    Conn.set({ wid: meWid(), pushname: 'wa-sim ' + me });
    Stream.mode = 'SYNCING';
    Socket.state = 'CONNECTED';
    offlineProgress = 0;
    const steps = 4;
    for (let i = 1; i <= steps; i++) {
        setTimeout(() => {
            if (sim.me !== me) return;
            offlineProgress = Math.round((100 * i) / steps);
            Cmd.trigger('offline_progress_update_from_bridge');
            if (i === steps) {
                Stream.mode = 'MAIN';
                Socket.hasSynced = true;
            }
        }, (sim.syncDelayMs * i) / steps);
    }
}

async function paired(me, token) {
    Socket.state = 'PAIRING';
    try {
        await writeSession(me, token);
    } catch (e) {
        console.error('[wa-sim] could not store the session', e);
    }
    connected(me);
}

// The current site announces a logout as starting_logout_from_bridge then logout_from_bridge.
function announceLogout() {
    if (SITE.bridgeLogout) {
        Cmd.trigger('starting_logout_from_bridge');
        Cmd.trigger('logout_from_bridge');
    } else {
        Cmd.trigger('logout');
    }
}

async function logoutHere() {
    try { await post('/api/logout', {}); } catch (_) { /* the server forgets it anyway */ }
    await clearSession();
    sim.me = null;
    announceLogout();
    setTimeout(() => location.replace('/?post_logout=1'), 100);
}

async function loggedOutFromPhone() {
    await clearSession();
    sim.me = null;
    if (SITE.bridgeLogout) {
        // The current site announces it and reloads; the QR comes with the next load.
        announceLogout();
        setTimeout(() => location.replace('/?post_logout=1'), SITE.logoutReloadMs);
        return;
    }
    Socket.hasSynced = false;
    try {
        const r = await post('/api/qr/refresh', {});
        showQr(r.ref);
    } catch (e) {
        console.error('[wa-sim] no new QR after logout', e);
        Socket.state = 'UNPAIRED';
    }
}

function incoming({ id, from, body, t, ciphertext_ms }) {
    const chat = chatFor(from);
    const key = new MsgKey({ fromMe: false, remote: chat.id, id });
    // A ciphertext message has no body until it is decrypted; then its type changes.
    const encrypted = ciphertext_ms != null;
    const msg = new MsgModel({ id: key, from: chat.id, to: meWid(), author: undefined, body: encrypted ? undefined : body, type: encrypted ? 'ciphertext' : 'chat', t, ack: 1, isNewMsg: true, self: 'in', local: false, notifyName: '' });
    if (encrypted) setTimeout(() => msg.set({ body, type: 'chat' }), ciphertext_ms);
    Msg.add(msg);
    chat.msgs.add(msg);
    chat.set({ t, lastReceivedKey: key });
    chat.unreadCount = (chat.unreadCount > 0 ? chat.unreadCount : 0) + 1;
}

// ---- faults: the main thread blocks on a synchronous request to the server ----

const holdSync = (kind, ms) => {
    const xhr = new XMLHttpRequest();
    xhr.open('GET', `/api/fault/hold?page=${encodeURIComponent(sim.page)}&kind=${kind}&ms=${ms}`, false);
    xhr.send(null);
    return JSON.parse(xhr.responseText);
};

function hang() {
    for (;;) {
        let fault;
        try { fault = holdSync('hang', 1000); } catch (_) { return; }
        if (fault.kind !== 'hang') return applyFault(fault);
    }
}

// Between two slices the tasks that queued up (a CDP evaluation among them) run; a message
// port, unlike a timer, re-blocks right after them, so the next call waits again.
const slowChannel = new MessageChannel();
slowChannel.port1.onmessage = () => slowTick();

function slowTick() {
    if (sim.fault.kind !== 'slow') return;
    let fault;
    try { fault = holdSync('slow', sim.fault.ms || 2000); } catch (_) { return; }
    if (fault.kind !== 'slow') return applyFault(fault);
    slowChannel.port2.postMessage(null);
}

function applyFault(fault) {
    const before = sim.fault.kind;
    sim.fault = fault || { kind: 'none' };
    if (sim.fault.kind === 'hang') setTimeout(hang, 0);
    else if (sim.fault.kind === 'slow' && before !== 'slow') setTimeout(slowTick, 0);
}

function onPush(event) {
    switch (event.type) {
        case 'ref':
            if (!sim.me) Conn.ref = event.ref;
            break;
        case 'idle':
            if (!sim.me) Socket.state = 'UNPAIRED_IDLE';
            break;
        case 'paired':
            paired(event.me, event.token);
            break;
        case 'incoming':
            incoming(event);
            break;
        case 'ack': {
            const msg = Msg.get(event.id);
            if (msg) msg.updateAck(event.ack);
            break;
        }
        case 'state':
            Socket.state = event.state;
            break;
        case 'logout':
            loggedOutFromPhone();
            break;
        case 'fault':
            applyFault(event);
            break;
        case 'rotate_adv':
            if (!sim.me) rotateAdv().catch((e) => console.error('[wa-sim] ADV rotation', e));
            break;
        default:
            console.warn('[wa-sim] unknown push', event);
    }
}

function listen() {
    const source = new EventSource('/api/events?page=' + encodeURIComponent(sim.page));
    sim.events = source;
    source.onmessage = (e) => {
        try { onPush(JSON.parse(e.data)); } catch (err) { console.error('[wa-sim] bad push', err); }
    };
    source.onerror = () => {
        // The server forgot this page (it restarted): start again, without navigating.
        if (source.readyState === EventSource.CLOSED && sim.events === source) setTimeout(boot, 1000);
    };
}

// The page's beat to the server, every second, so that the server can tell a live page from a
// frozen one (hub.rs `SILENT`).
let beating = null;
function beat() {
    if (beating) return;
    beating = setInterval(() => {
        if (sim.page) post('/api/alive', { page: sim.page }).catch(() => {});
    }, 1000);
}

async function boot() {
    Socket.state = 'OPENING';
    const postLogout = new URLSearchParams(location.search).get('post_logout') === '1';
    const session = await readSession();
    const welcome = await post('/api/hello', {
        browser_id: browserId(),
        token: session ? session.token : null,
        me: session ? session.me : null,
        post_logout: postLogout,
        version: VERSION,
        user_agent: navigator.userAgent,
        webdriver: navigator.webdriver === true,
        keys: {
            noise: encodeB64(noiseInfo.staticKeyPair.pubKey),
            identity: encodeB64(registrationInfo.identityKeyPair.pubKey),
            adv: advSecretKey,
            platform: String(DEVICE_PLATFORM),
        },
    });
    sim.page = welcome.page;
    sim.syncDelayMs = welcome.sync_delay_ms;
    if (welcome.revoked || postLogout) await clearSession();
    listen();
    scheduleReport();
    beat();
    if (welcome.mode === 'restore') connected(welcome.me);
    else showQr(welcome.ref);
    applyFault(welcome.fault);
}

const start = () => boot().catch((e) => {
    console.error('[wa-sim] boot failed', e);
    setTimeout(start, 1000);
});
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
