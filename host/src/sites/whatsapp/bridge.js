// vigil's bridge into WhatsApp Web.
//
// Injected into every new document of the session's page (Page.addScriptToEvaluateOnNewDocument)
// and evaluated again in the running document when the host replaces it, so it must be safe to
// run twice: a new copy disposes of the old one first.
//
// It uses only the page internals independent clients use (whatsapp-web.js's AuthStore and
// Store: window.require('WAWebSocketModel') and friends), so the same file works on the real
// site and on the simulator. Every internal it relies on is declared once, in INTERNALS: the
// canary checks them at each install and names what is missing when the site changed.
//
// Page → host: events, one JSON string per call of the CDP binding `__vigilEmit`:
//   {type: "hello", bridge, version, state, synced, me}   once the app has loaded
//   {type: "incompatible", bridge, version, missing, problems}  internals missing after the wait
//   {type: "state", state}                                 every Socket state change
//   {type: "synced", me}                                   hasSynced flipped to true (ready)
//   {type: "qr", qr}                                       a new QR to scan
//   {type: "pairing_code", code}                           a new code to type on the phone
//   {type: "logout", event}                                the app logged out (Cmd event name)
//   {type: "message", message: {id, from, to, body, t, fromMe, type}}   once per message, decrypted
//   {type: "ack", id, ack}
//   {type: "error", where, message}                        the bridge itself failed
// Host → page: calls on window.__vigil (each returns a value or a promise):
//   state(), ping(), me(), sendText(to, body, timeoutMs), logout(), info(), canary(),
//   pairingCode(phone, renewMs)
(() => {
    'use strict';
    const BRIDGE = 'vigil-whatsapp/2';
    const BINDING = '__vigilEmit';
    // install() waits this long for every internal (modules register late on a cold load, more
    // so on a slow machine: a false alarm costs an email), retrying with backoff, then reports
    // what is missing.
    const INSTALL_WAIT_MS = 20000;
    const RETRY_FIRST_MS = 50;
    const RETRY_MAX_MS = 1000;
    // After the report, keep looking (slowly) in case the modules come after all.
    const RETRY_AFTER_REPORT_MS = 5000;
    // While the QR shows, re-read its parts this often: the ADV secret can change under it.
    const QR_RECHECK_MS = 1000;
    const LINK_PREVIEW_WAIT_MS = 3000;

    // The canary's list: [module, export path, kind]. kind: 'function', 'object' (an object or
    // a function with properties), 'emitter' (has on/off: the events listened to are on it),
    // 'value' (anything but undefined).
    const INTERNALS = [
        ['WAWebSocketModel', 'Socket', 'emitter'],
        ['WAWebSocketModel', 'Socket.logout', 'function'],
        ['WAWebConnModel', 'Conn', 'emitter'],
        ['WAWebCmd', 'Cmd', 'emitter'],
        ['WAWebCollections', 'Msg', 'emitter'],
        ['WAWebCollections', 'Chat', 'object'],
        ['WAWebUserPrefsMeUser', 'getMaybeMePnUser', 'function'],
        ['WAWebUserPrefsMeUser', 'getMaybeMeLidUser', 'function'],
        ['WABase64', 'encodeB64', 'function'],
        ['WAWebCompanionRegClientUtils', 'DEVICE_PLATFORM', 'value'],
        ['WAWebCompanionRegClientUtils', 'waNoiseInfo.get', 'function'],
        ['WAWebSignalStoreApi', 'waSignalStore.getRegistrationInfo', 'function'],
        ['WAWebAdvSignatureApi', 'getADVSecretKey', 'function'],
        ['WAWebUserPrefsInfoStore', '', 'object'],
        ['WAWebWidFactory', 'createWid', 'function'],
        ['WAWebFindChatAction', 'findOrCreateLatestChat', 'function'],
        ['WAWebChatGetters', 'getIsNewsletter', 'function'],
        ['WAWebChatGetters', 'getIsBroadcast', 'function'],
        ['WAWebMsgKey', 'newId', 'function'],
        ['WAWebGetEphemeralFieldsMsgActionsUtils', 'getEphemeralFields', 'function'],
        ['WAWebSendMsgChatAction', 'addAndSendMsgToChat', 'function'],
        ['WALinkify', 'findLink', 'function'],
        ['WAWebLinkPreviewChatAction', 'getLinkPreview', 'function'],
        ['WAWebAltDeviceLinkingApi', 'setPairingType', 'function'],
        ['WAWebAltDeviceLinkingApi', 'initializeAltDeviceLinking', 'function'],
        ['WAWebAltDeviceLinkingApi', 'startAltLinkingFlow', 'function'],
    ];
    // The Cmd events a logout is announced with (old and current names).
    const LOGOUT_EVENTS = ['logout', 'starting_logout_from_bridge', 'logout_from_bridge'];

    if (window.__vigil && typeof window.__vigil.dispose === 'function') {
        try { window.__vigil.dispose(); } catch (_) { /* the old copy is gone anyway */ }
    }

    const emit = (type, data) => {
        try {
            if (typeof window[BINDING] === 'function') window[BINDING](JSON.stringify({ type, ...data }));
        } catch (_) { /* the host is not listening */ }
    };

    const subscriptions = [];
    const timers = new Set();
    let disposed = false;
    const on = (target, events, fn) => {
        target.on(events, fn);
        subscriptions.push(() => target.off(events, fn));
    };
    const later = (fn, ms) => {
        const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
        timers.add(t);
        return t;
    };

    const req = (name) => window.require(name);
    const socket = () => req('WAWebSocketModel').Socket;
    const widText = (w) => (w == null ? null : w._serialized || String(w));
    const me = () => {
        try { return widText(req('WAWebUserPrefsMeUser').getMaybeMePnUser()); } catch (_) { return null; }
    };
    const version = () => (window.Debug && window.Debug.VERSION) || null;
    const appLoaded = () => Boolean(version() && typeof window.require === 'function');
    const loaded = () => {
        try { return appLoaded() && Boolean(socket()); } catch (_) { return false; }
    };

    // The canary: every internal of INTERNALS that is missing or of the wrong kind.
    const canary = () => {
        const missing = [];
        const problems = [];
        for (const [module, path, kind] of INTERNALS) {
            const name = path ? module + '.' + path : module;
            let value;
            try {
                value = req(module);
                for (const part of path ? path.split('.') : []) value = value == null ? undefined : value[part];
            } catch (e) {
                missing.push(name);
                problems.push(name + ': ' + String((e && e.message) || e));
                continue;
            }
            const t = typeof value;
            const ok = kind === 'function' ? t === 'function'
                : kind === 'object' ? value != null && (t === 'object' || t === 'function')
                : kind === 'emitter' ? value != null && typeof value.on === 'function' && typeof value.off === 'function'
                : value !== undefined;
            if (!ok) {
                missing.push(name);
                problems.push(name + ': ' + (value === undefined ? 'missing' : 'a ' + t + ', not ' + (kind === 'emitter' ? 'an event emitter' : 'a ' + kind)));
            }
        }
        return { bridge: BRIDGE, version: version(), missing, problems };
    };

    // The QR text, built as whatsapp-web.js builds it: ref, noise key, identity key, ADV secret
    // (its getter is async on the current site: awaited), platform.
    const qrFor = async (ref) => {
        const utils = {
            ...req('WAWebCompanionRegClientUtils'),
            ...req('WAWebAdvSignatureApi'),
            ...req('WAWebUserPrefsInfoStore'),
            ...req('WAWebSignalStoreApi'),
        };
        const b64 = req('WABase64');
        const registration = await utils.waSignalStore.getRegistrationInfo();
        const noise = await utils.waNoiseInfo.get();
        const adv = await Promise.resolve(utils.getADVSecretKey());
        if (typeof adv !== 'string' || !adv) throw new Error('the ADV secret is not a string: ' + Object.prototype.toString.call(adv));
        return [
            ref,
            b64.encodeB64(noise.staticKeyPair.pubKey),
            b64.encodeB64(registration.identityKeyPair.pubKey),
            adv,
            utils.DEVICE_PLATFORM,
        ].join(',');
    };

    let lastQr = null;
    let qrTimer = null;
    const onQrScreen = (state) => state === 'UNPAIRED' || state === 'UNPAIRED_IDLE';
    const fail = (where) => (e) => emit('error', { where, message: String((e && e.message) || e) });
    const pushQr = async () => {
        const ref = req('WAWebConnModel').Conn.ref;
        if (!ref || !onQrScreen(socket().state)) return;
        const qr = await qrFor(ref);
        if (disposed || qr === lastQr || !onQrScreen(socket().state)) return;
        lastQr = qr;
        emit('qr', { qr });
    };
    // The secret can change while the QR shows: look again every QR_RECHECK_MS.
    const watchQr = () => {
        if (disposed || qrTimer) return;
        qrTimer = later(() => {
            qrTimer = null;
            if (disposed) return;
            let state = null;
            try { state = socket().state; } catch (_) { /* gone */ }
            if (!onQrScreen(state)) return;
            pushQr().catch(fail('qr')).finally(watchQr);
        }, QR_RECHECK_MS);
    };

    const message = (m) => ({
        id: widText(m.id),
        from: widText(m.from),
        to: widText(m.to),
        author: widText(m.author),
        body: m.body == null ? '' : String(m.body),
        t: m.t,
        fromMe: Boolean(m.id && m.id.fromMe),
        type: m.type,
    });

    // Each message is reported once, once decrypted: a 'ciphertext' message waits for its
    // change:type, a text for its body.
    const reported = new Set();
    const reportedOrder = [];
    const REPORTED_KEEP = 1000;
    const reportable = (m) => m && m.isNewMsg && m.type !== 'ciphertext' && !(m.type === 'chat' && (m.body == null || m.body === ''));
    const maybeReport = (m) => {
        if (!reportable(m)) return;
        const id = widText(m.id);
        if (!id || reported.has(id)) return;
        reported.add(id);
        reportedOrder.push(id);
        if (reportedOrder.length > REPORTED_KEEP) reported.delete(reportedOrder.shift());
        emit('message', { message: message(m) });
    };

    const install = () => {
        const Socket = socket();
        const { Conn } = req('WAWebConnModel');
        const { Cmd } = req('WAWebCmd');
        const { Msg } = req('WAWebCollections');

        on(Socket, 'change:state', (_s, state) => {
            emit('state', { state });
            if (onQrScreen(state)) {
                pushQr().catch(fail('qr'));
                watchQr();
            }
        });
        let loggedOut = false;
        on(Socket, 'change:hasSynced', (_s, synced) => {
            if (!synced) return;
            loggedOut = false;
            emit('synced', { me: me() });
        });
        on(Conn, 'change:ref', () => pushQr().catch(fail('qr')));
        for (const event of LOGOUT_EVENTS) {
            on(Cmd, event, () => {
                if (loggedOut) return;
                loggedOut = true;
                emit('logout', { event });
            });
        }
        on(Msg, 'add', maybeReport);
        on(Msg, 'change:type', maybeReport);
        on(Msg, 'change:body', maybeReport);
        on(Msg, 'change:ack', (m, ack) => emit('ack', { id: widText(m.id), ack }));

        emit('hello', {
            bridge: BRIDGE,
            version: version(),
            state: Socket.state,
            synced: Boolean(Socket.hasSynced),
            me: me(),
        });
        if (onQrScreen(Socket.state)) {
            pushQr().catch(fail('qr'));
            watchQr();
        }
    };

    // The app defines window.require after this script runs, and some modules after
    // Debug.VERSION: wait for the app, then for every internal (bounded, with backoff), then
    // install — or report what is missing and keep looking slowly.
    let firstSeen = null;
    let reportedIncompatible = false;
    const waitForApp = (delay) => {
        if (disposed) return;
        if (!appLoaded()) {
            later(() => waitForApp(RETRY_FIRST_MS), RETRY_FIRST_MS);
            return;
        }
        if (firstSeen === null) firstSeen = Date.now();
        const result = canary();
        if (!result.missing.length) {
            try { install(); } catch (e) { fail('install')(e); }
            return;
        }
        if (!reportedIncompatible && Date.now() - firstSeen >= INSTALL_WAIT_MS) {
            reportedIncompatible = true;
            emit('incompatible', result);
        }
        const next = reportedIncompatible ? RETRY_AFTER_REPORT_MS : Math.min(delay * 2, RETRY_MAX_MS);
        later(() => waitForApp(next), reportedIncompatible ? next : delay);
    };

    const withTimeout = (promise, ms, what) => {
        let timer;
        const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(what + ' within ' + ms + ' ms')), ms); });
        return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
    };

    // A text with a URL goes through the link-preview path, as the site's composer does; no
    // preview (it failed or took too long) sends the plain text.
    const linkPreview = async (body) => {
        const link = req('WALinkify').findLink(body);
        if (!link) return {};
        try {
            const preview = await withTimeout(Promise.resolve(req('WAWebLinkPreviewChatAction').getLinkPreview(link)), LINK_PREVIEW_WAIT_MS, 'no link preview');
            if (preview && preview.data) return { ...preview.data, preview: true, subtype: 'url' };
        } catch (_) { /* send without a preview */ }
        return {};
    };

    const sendText = async (to, body, timeoutMs) => {
        if (String(to).endsWith('@g.us')) throw new Error('sending to a group (' + to + ') is not supported by this bridge');
        const { Chat, Msg } = req('WAWebCollections');
        const chatWid = req('WAWebWidFactory').createWid(to);
        const chat = Chat.get(chatWid) || (await req('WAWebFindChatAction').findOrCreateLatestChat(chatWid)).chat;
        if (!chat) throw new Error('no chat for ' + to);
        const { getIsNewsletter, getIsBroadcast } = req('WAWebChatGetters');
        if (getIsNewsletter(chat) || getIsBroadcast(chat)) throw new Error(to + ' is not a person');
        const { getMaybeMeLidUser, getMaybeMePnUser } = req('WAWebUserPrefsMeUser');
        const from = chat.id.isLid() ? getMaybeMeLidUser() : getMaybeMePnUser();
        if (!from) throw new Error('not linked to an account');
        const MsgKey = req('WAWebMsgKey');
        const key = new MsgKey({ from, to: chat.id, id: await MsgKey.newId(), participant: undefined, selfDir: 'out' });
        const msg = {
            id: key,
            ack: 0,
            body,
            from,
            to: chat.id,
            local: true,
            self: 'out',
            t: Math.floor(Date.now() / 1000),
            isNewMsg: true,
            type: 'chat',
            ...req('WAWebGetEphemeralFieldsMsgActionsUtils').getEphemeralFields(chat),
            ...(await linkPreview(body)),
        };
        const [added, sent] = req('WAWebSendMsgChatAction').addAndSendMsgToChat(chat, msg);
        const within = withTimeout(Promise.resolve(added).then(() => sent), timeoutMs, 'no server ack');
        const result = await within;
        if (!result || result.messageSendResult !== 'OK') {
            throw new Error('the server refused the message: ' + ((result && (result.error || result.messageSendResult)) || 'no result'));
        }
        const stored = Msg.get(key._serialized);
        return { id: key._serialized, ack: stored ? stored.ack : null };
    };

    // Link with phone number (whatsapp-web.js requestPairingCode): a code now, and a new one
    // every renewMs while the page is still unlinked.
    let pairingTimer = null;
    const pairingCode = async (phone, renewMs) => {
        const api = req('WAWebAltDeviceLinkingApi');
        const getCode = async () => {
            api.setPairingType('ALT_DEVICE_LINKING');
            await api.initializeAltDeviceLinking();
            const code = await api.startAltLinkingFlow(String(phone), true);
            if (typeof code !== 'string' || !code) throw new Error('the site gave no pairing code');
            emit('pairing_code', { code });
            return code;
        };
        if (pairingTimer) clearInterval(pairingTimer);
        pairingTimer = null;
        const code = await getCode();
        pairingTimer = setInterval(() => {
            if (disposed || !onQrScreen(socket().state)) {
                clearInterval(pairingTimer);
                pairingTimer = null;
                return;
            }
            getCode().catch(fail('pairing_code'));
        }, Math.max(1000, Number(renewMs) || 180000));
        return code;
    };

    window.__vigil = {
        bridge: BRIDGE,
        state: () => (loaded() ? socket().state : 'LOADING'),
        ping: () => Date.now(),
        me,
        info: () => ({ bridge: BRIDGE, loaded: loaded(), version: version(), me: me() }),
        canary,
        sendText,
        pairingCode,
        logout: async () => {
            await socket().logout();
            return true;
        },
        dispose: () => {
            disposed = true;
            for (const t of timers) clearTimeout(t);
            timers.clear();
            if (pairingTimer) clearInterval(pairingTimer);
            for (const off of subscriptions.splice(0)) {
                try { off(); } catch (_) { /* already gone */ }
            }
        },
    };

    waitForApp(RETRY_FIRST_MS);
})();
