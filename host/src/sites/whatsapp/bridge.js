// vigil's bridge into WhatsApp Web.
//
// Injected into every new document of the session's page (Page.addScriptToEvaluateOnNewDocument)
// and evaluated again in the running document when the host replaces it, so it must be safe to
// run twice: a new copy disposes of the old one first.
//
// It uses only the page internals independent clients use (whatsapp-web.js's AuthStore and
// Store: window.require('WAWebSocketModel') and friends), so the same file works on the real
// site and on the simulator.
//
// Page → host: events, one JSON string per call of the CDP binding `__vigilEmit`:
//   {type: "hello", bridge, version, state, synced, me}   once the app has loaded
//   {type: "state", state}                                 every Socket state change
//   {type: "synced", me}                                   hasSynced flipped to true (ready)
//   {type: "qr", qr}                                       a new QR to scan
//   {type: "logout"}                                       the app logged out (Cmd 'logout')
//   {type: "message", message: {id, from, to, body, t, fromMe, type}}
//   {type: "ack", id, ack}
//   {type: "error", where, message}                        the bridge itself failed
// Host → page: calls on window.__vigil (each returns a value or a promise):
//   state(), ping(), me(), sendText(to, body, timeoutMs), logout(), info()
(() => {
    'use strict';
    const BRIDGE = 'vigil-whatsapp/1';
    const BINDING = '__vigilEmit';

    if (window.__vigil && typeof window.__vigil.dispose === 'function') {
        try { window.__vigil.dispose(); } catch (_) { /* the old copy is gone anyway */ }
    }

    const emit = (type, data) => {
        try {
            if (typeof window[BINDING] === 'function') window[BINDING](JSON.stringify({ type, ...data }));
        } catch (_) { /* the host is not listening */ }
    };

    const subscriptions = [];
    let disposed = false;
    let waitTimer = null;
    const on = (target, events, fn) => {
        target.on(events, fn);
        subscriptions.push(() => target.off(events, fn));
    };

    const req = (name) => window.require(name);
    const socket = () => req('WAWebSocketModel').Socket;
    const widText = (w) => (w == null ? null : w._serialized || String(w));
    const me = () => {
        try { return widText(req('WAWebUserPrefsMeUser').getMaybeMePnUser()); } catch (_) { return null; }
    };
    const loaded = () => {
        try {
            return Boolean(window.Debug && window.Debug.VERSION && typeof window.require === 'function' && socket());
        } catch (_) {
            return false;
        }
    };

    // The QR text, built as whatsapp-web.js builds it: ref, noise key, identity key, ADV secret,
    // platform.
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
        return [
            ref,
            b64.encodeB64(noise.staticKeyPair.pubKey),
            b64.encodeB64(registration.identityKeyPair.pubKey),
            req('WAWebUserPrefsMultiDevice').getADVSecretKey(),
            utils.DEVICE_PLATFORM,
        ].join(',');
    };

    let lastQr = null;
    const onQrScreen = (state) => state === 'UNPAIRED' || state === 'UNPAIRED_IDLE';
    const pushQr = async () => {
        const ref = req('WAWebConnModel').Conn.ref;
        if (!ref || !onQrScreen(socket().state)) return;
        const qr = await qrFor(ref);
        if (disposed || qr === lastQr) return;
        lastQr = qr;
        emit('qr', { qr });
    };
    const fail = (where) => (e) => emit('error', { where, message: String((e && e.message) || e) });

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

    const install = () => {
        const Socket = socket();
        const { Conn } = req('WAWebConnModel');
        const { Cmd } = req('WAWebCmd');
        const { Msg } = req('WAWebCollections');

        on(Socket, 'change:state', (_s, state) => {
            emit('state', { state });
            if (onQrScreen(state)) pushQr().catch(fail('qr'));
        });
        on(Socket, 'change:hasSynced', (_s, synced) => {
            if (synced) emit('synced', { me: me() });
        });
        on(Conn, 'change:ref', () => pushQr().catch(fail('qr')));
        on(Cmd, 'logout', () => emit('logout', {}));
        on(Msg, 'add', (m) => {
            if (m && m.isNewMsg) emit('message', { message: message(m) });
        });
        on(Msg, 'change:ack', (m, ack) => emit('ack', { id: widText(m.id), ack }));

        emit('hello', {
            bridge: BRIDGE,
            version: window.Debug.VERSION,
            state: Socket.state,
            synced: Boolean(Socket.hasSynced),
            me: me(),
        });
        if (onQrScreen(Socket.state)) pushQr().catch(fail('qr'));
    };

    // The app defines window.require after this script runs: wait for it inside the page.
    const waitForApp = () => {
        if (disposed) return;
        if (loaded()) {
            try { install(); } catch (e) { fail('install')(e); }
        } else {
            waitTimer = setTimeout(waitForApp, 50);
        }
    };

    const sendText = async (to, body, timeoutMs) => {
        const { Chat, Msg } = req('WAWebCollections');
        const chatWid = req('WAWebWidFactory').createWid(to);
        const chat = Chat.get(chatWid) || (await req('WAWebFindChatAction').findOrCreateLatestChat(chatWid)).chat;
        if (!chat) throw new Error('no chat for ' + to);
        const { getIsNewsletter, getIsBroadcast } = req('WAWebChatGetters');
        if (getIsNewsletter(chat) || getIsBroadcast(chat)) throw new Error(to + ' is not a person or a group');
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
        };
        const [added, sent] = req('WAWebSendMsgChatAction').addAndSendMsgToChat(chat, msg);
        const timeout = new Promise((_, reject) =>
            setTimeout(() => reject(new Error('no server ack within ' + timeoutMs + ' ms')), timeoutMs));
        await Promise.race([added, timeout]);
        const result = await Promise.race([sent, timeout]);
        if (!result || result.messageSendResult !== 'OK') {
            throw new Error('the server refused the message: ' + ((result && (result.error || result.messageSendResult)) || 'no result'));
        }
        const stored = Msg.get(key._serialized);
        return { id: key._serialized, ack: stored ? stored.ack : null };
    };

    window.__vigil = {
        bridge: BRIDGE,
        state: () => (loaded() ? socket().state : 'LOADING'),
        ping: () => Date.now(),
        me,
        info: () => ({ bridge: BRIDGE, loaded: loaded(), version: window.Debug && window.Debug.VERSION, me: me() }),
        sendText,
        logout: async () => {
            await socket().logout();
            return true;
        },
        dispose: () => {
            disposed = true;
            if (waitTimer) clearTimeout(waitTimer);
            for (const off of subscriptions.splice(0)) {
                try { off(); } catch (_) { /* already gone */ }
            }
        },
    };

    waitForApp();
})();
