// models.js — Backbone-like building blocks, the way WhatsApp Web's own models behave for code
// running in the page: on/off/once/trigger, attribute accessors firing `change:<attr>` with
// (model, value, previous) and then `change`, collections re-firing their models' events and
// firing `add`/`remove`, non-circular serialize()/toJSON(). Also wids and message keys.
// Concatenated before app.js inside one function by page.rs: nothing here is global.

const hidden = (obj, name, value) =>
    Object.defineProperty(obj, name, { value, writable: true, enumerable: false, configurable: true });

class Emitter {
    constructor() {
        hidden(this, '_events', new Map());
    }

    on(names, fn, ctx) {
        if (typeof fn !== 'function') return this;
        for (const name of String(names).split(/\s+/).filter(Boolean)) {
            if (!this._events.has(name)) this._events.set(name, []);
            this._events.get(name).push({ fn, ctx });
        }
        return this;
    }

    once(names, fn, ctx) {
        const self = this;
        const wrapper = function (...args) {
            self.off(names, wrapper);
            return fn.apply(ctx || this, args);
        };
        wrapper._original = fn;
        return this.on(names, wrapper, ctx);
    }

    off(names, fn) {
        const keep = (h) => fn && h.fn !== fn && h.fn._original !== fn;
        const targets = names == null ? [...this._events.keys()] : String(names).split(/\s+/).filter(Boolean);
        for (const name of targets) {
            const handlers = this._events.get(name);
            if (!handlers) continue;
            const left = handlers.filter(keep);
            if (left.length) this._events.set(name, left);
            else this._events.delete(name);
        }
        return this;
    }

    listenTo(other, names, fn) {
        other.on(names, fn, this);
        return this;
    }

    stopListening(other, names, fn) {
        if (other) other.off(names, fn);
        return this;
    }

    trigger(name, ...args) {
        for (const key of [name, 'all']) {
            const handlers = this._events.get(key);
            if (!handlers) continue;
            for (const h of handlers.slice()) {
                try {
                    if (key === 'all') h.fn.call(h.ctx || this, name, ...args);
                    else h.fn.apply(h.ctx || this, args);
                } catch (e) {
                    console.error('[wa-sim] listener of', name, 'threw', e);
                }
            }
        }
        return this;
    }

    emit(name, ...args) {
        return this.trigger(name, ...args);
    }
}

const plain = (value) => {
    if (value instanceof Model) return value.serialize();
    if (value instanceof Collection) return value.serialize();
    return value;
};

class Model extends Emitter {
    constructor(attrs = {}) {
        super();
        hidden(this, 'attributes', {});
        hidden(this, '_collections', new Set());
        this.set(attrs, { silent: true });
    }

    get(key) {
        return this.attributes[key];
    }

    set(key, value, options) {
        let attrs = key;
        if (typeof key !== 'object' || key === null) {
            attrs = { [key]: value };
        } else {
            options = value;
        }
        const changes = [];
        for (const k of Object.keys(attrs || {})) {
            this._expose(k);
            const previous = this.attributes[k];
            if (previous !== attrs[k] || !(k in this.attributes)) {
                this.attributes[k] = attrs[k];
                if (previous !== attrs[k]) changes.push([k, attrs[k], previous]);
            }
        }
        if (!(options && options.silent)) {
            for (const [k, v, previous] of changes) this.trigger('change:' + k, this, v, previous);
            if (changes.length) this.trigger('change', this, options || {});
        }
        return this;
    }

    unset(key, options) {
        return this.set(key, undefined, options);
    }

    // Attributes read and write as properties (`msg.ack = 2` fires change:ack), unless the
    // name is already a method or property of the model.
    _expose(key) {
        if (key in this) return;
        Object.defineProperty(this, key, {
            get() {
                return this.attributes[key];
            },
            set(v) {
                this.set(key, v);
            },
            enumerable: true,
            configurable: true,
        });
    }

    has(key) {
        return this.attributes[key] != null;
    }

    serialize() {
        const out = {};
        for (const [k, v] of Object.entries(this.attributes)) out[k] = plain(v);
        return out;
    }

    toJSON() {
        return this.serialize();
    }

    all() {
        return this.serialize();
    }

    trigger(name, ...args) {
        super.trigger(name, ...args);
        if (name !== 'add' && name !== 'remove') {
            for (const c of this._collections) c.trigger(name, ...args);
        }
        return this;
    }
}

const keyOf = (x) => {
    if (x == null) return undefined;
    if (typeof x === 'string') return x;
    if (typeof x._serialized === 'string') return x._serialized;
    if (x instanceof Model) return keyOf(x.get('id'));
    if (typeof x === 'object' && 'id' in x) return keyOf(x.id);
    return String(x);
};

class Collection extends Emitter {
    constructor(modelClass) {
        super();
        hidden(this, 'modelClass', modelClass || Model);
        hidden(this, '_models', []);
        hidden(this, '_byId', new Map());
    }

    get length() {
        return this._models.length;
    }

    get models() {
        return this._models;
    }

    get(id) {
        return this._byId.get(keyOf(id));
    }

    has(id) {
        return this._byId.has(keyOf(id));
    }

    at(i) {
        return this._models[i];
    }

    add(items, options) {
        const many = Array.isArray(items);
        const added = [];
        for (const item of many ? items : [items]) {
            if (item == null) continue;
            const model = item instanceof Model ? item : new this.modelClass(item);
            const key = keyOf(model.get('id'));
            const existing = key !== undefined ? this._byId.get(key) : undefined;
            if (existing) {
                if (existing !== model && options && options.merge) existing.set(model.attributes);
                added.push(existing);
                continue;
            }
            this._models.push(model);
            if (key !== undefined) this._byId.set(key, model);
            model._collections.add(this);
            added.push(model);
            if (!(options && options.silent)) this.trigger('add', model, this, options || {});
        }
        return many ? added : added[0];
    }

    remove(items, options) {
        const many = Array.isArray(items);
        const removed = [];
        for (const item of many ? items : [items]) {
            const model = this.get(item) || (item instanceof Model ? item : undefined);
            const index = model ? this._models.indexOf(model) : -1;
            if (index < 0) continue;
            this._models.splice(index, 1);
            this._byId.delete(keyOf(model.get('id')));
            model._collections.delete(this);
            removed.push(model);
            if (!(options && options.silent)) this.trigger('remove', model, this, options || {});
        }
        return many ? removed : removed[0];
    }

    reset(models) {
        for (const m of this._models.slice()) this.remove(m, { silent: true });
        if (models) this.add(models, { silent: true });
        this.trigger('reset', this);
        return this;
    }

    getModelsArray() {
        return this._models.slice();
    }

    toArray() {
        return this._models.slice();
    }

    forEach(fn) {
        this._models.slice().forEach(fn);
    }

    map(fn) {
        return this._models.map(fn);
    }

    filter(fn) {
        return this._models.filter(fn);
    }

    some(fn) {
        return this._models.some(fn);
    }

    where(attrs) {
        return this._models.filter((m) => Object.entries(attrs).every(([k, v]) => m.get(k) === v));
    }

    findFirst(fn) {
        return this._models.find(fn);
    }

    head() {
        return this._models[0];
    }

    last() {
        return this._models[this._models.length - 1];
    }

    // Like WhatsApp's collections: find(id) is an asynchronous fetch by id.
    async find(id) {
        const model = this.get(id);
        if (!model) throw new Error('wa-sim: no ' + keyOf(id) + ' in this collection');
        return model;
    }

    serialize() {
        return this._models.map((m) => m.serialize());
    }

    toJSON() {
        return this.serialize();
    }
}

class Wid {
    constructor(text) {
        const s = String(text);
        const at = s.indexOf('@');
        let user = at < 0 ? s : s.slice(0, at);
        let server = at < 0 ? 'c.us' : s.slice(at + 1);
        if (server === 's.whatsapp.net') server = 'c.us';
        if (!user || !server) throw new Error('wa-sim: invalid wid ' + JSON.stringify(text));
        this.server = server;
        this.user = user;
        this._serialized = user + '@' + server;
    }

    isLid() { return this.server === 'lid'; }
    isUser() { return this.server === 'c.us' || this.server === 'lid'; }
    isGroup() { return this.server === 'g.us'; }
    isBroadcast() { return this.server === 'broadcast'; }
    isStatus() { return this.user === 'status' && this.server === 'broadcast'; }
    isNewsletter() { return this.server === 'newsletter'; }
    isServer() { return this.server === 'c.us' && this.user === 'server'; }
    toString() { return this._serialized; }
    toJSON() { return this._serialized; }
    toJid() { return this.server === 'c.us' ? this.user + '@s.whatsapp.net' : this._serialized; }
    equals(other) { return other != null && keyOf(other) === this._serialized; }
}

const createWid = (id) => {
    if (id instanceof Wid) return id;
    if (id && typeof id === 'object' && typeof id._serialized === 'string') return new Wid(id._serialized);
    if (typeof id !== 'string' || !id) throw new Error('wa-sim: createWid needs a wid string, got ' + typeof id);
    return new Wid(id);
};

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();

class MsgKey {
    constructor({ from, to, id, participant, selfDir, fromMe, remote }) {
        const mine = selfDir !== undefined ? selfDir === 'out' : Boolean(fromMe);
        this.fromMe = mine;
        this.remote = createWid(remote !== undefined ? remote : mine ? to : from);
        this.id = String(id);
        this.participant = participant ? createWid(participant) : undefined;
        this._serialized =
            `${mine}_${this.remote._serialized}_${this.id}` +
            (this.participant ? '_' + this.participant._serialized : '');
    }

    static async newId() {
        return '3EB0' + hex(crypto.getRandomValues(new Uint8Array(8)));
    }

    static fromString(text) {
        const [mine, remote, id, participant] = String(text).split('_');
        return new MsgKey({ fromMe: mine === 'true', remote, id, participant });
    }

    toString() { return this._serialized; }
    toJSON() { return this._serialized; }
    equals(other) { return other != null && keyOf(other) === this._serialized; }
}
