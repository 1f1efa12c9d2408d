// An SMSC built on node-smpp (the npm package "smpp"), driven by the Go
// interop test: it prints one JSON event per line on stdout and takes one
// JSON command per line on stdin. Everything about the PDUs (framing,
// fields, TLVs, GSM 03.38 / UCS-2 decoding, UDH parsing) is the library's;
// this script only reassembles concatenated parts from what the library
// decoded, and answers.
'use strict';
const smpp = require('smpp');
const readline = require('readline');

const accounts = JSON.parse(process.argv[2] || '{}');
let nextId = 1000;
let throttleNext = 0;
const sessions = new Set();
const parts = new Map();

function emit(ev) {
	process.stdout.write(JSON.stringify(ev) + '\n');
}

function ymdhm(d) {
	const p = (n) => String(n).padStart(2, '0');
	return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes());
}

function text(field) {
	if (field === undefined || field === null) return { message: '' };
	if (typeof field === 'string') return { message: field };
	if (Buffer.isBuffer(field)) return { message: field.toString('latin1') };
	return field; // {udh, message} from the library's filter
}

function sendReceipt(session, pdu, id, stat, err) {
	const now = new Date();
	const body = 'id:' + id + ' sub:001 dlvrd:' + (stat === 'DELIVRD' ? '001' : '000') +
		' submit date:' + ymdhm(now) + ' done date:' + ymdhm(now) + ' stat:' + stat + ' err:' + err + ' text:';
	session.deliver_sm({
		source_addr_ton: pdu.dest_addr_ton, source_addr_npi: pdu.dest_addr_npi, source_addr: pdu.destination_addr,
		dest_addr_ton: pdu.source_addr_ton, dest_addr_npi: pdu.source_addr_npi, destination_addr: pdu.source_addr,
		esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
		short_message: body,
		receipted_message_id: id,
		message_state: stat === 'DELIVRD' ? smpp.MESSAGE_STATE.DELIVERED : smpp.MESSAGE_STATE.UNDELIVERABLE,
	}, (resp) => emit({ event: 'receipt_resp', id: id, status: resp.command_status }));
}

function onSubmit(session, pdu) {
	if (throttleNext > 0) {
		throttleNext--;
		emit({ event: 'throttled', dest: pdu.destination_addr });
		session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
		return;
	}
	const id = 'n' + (nextId++);
	const sm = text(pdu.short_message);
	const payload = pdu.message_payload !== undefined ? text(pdu.message_payload) : null;
	let body = sm.message;
	let concat = null;
	if (payload) {
		body = payload.message;
		concat = { kind: 'payload', ref: 0, total: 1, seq: 1 };
	}
	if (sm.udh) {
		for (const u of sm.udh) {
			if (u[0] === 0x00 && u[1] === 3) concat = { kind: 'udh', ref: u[2], total: u[3], seq: u[4] };
		}
	} else if (pdu.sar_msg_ref_num !== undefined) {
		concat = { kind: 'sar', ref: pdu.sar_msg_ref_num, total: pdu.sar_total_segments, seq: pdu.sar_segment_seqnum };
	}
	const ours = pdu[0x1501] ? Buffer.from(pdu[0x1501]).toString('hex') : '';
	const base = {
		source: pdu.source_addr, source_ton: pdu.source_addr_ton, source_npi: pdu.source_addr_npi,
		dest: pdu.destination_addr, dest_ton: pdu.dest_addr_ton, dest_npi: pdu.dest_addr_npi,
		data_coding: pdu.data_coding, registered_delivery: pdu.registered_delivery, ref: ours,
	};
	emit(Object.assign({ event: 'part', id: id, text: body }, base, { concat: concat }));
	let whole = null;
	if (concat && concat.kind !== 'payload' && concat.total > 1) {
		const key = pdu.source_addr + '|' + pdu.destination_addr + '|' + concat.ref;
		const m = parts.get(key) || { got: {}, ids: {} };
		m.got[concat.seq] = body;
		m.ids[concat.seq] = id;
		parts.set(key, m);
		if (Object.keys(m.got).length === concat.total) {
			parts.delete(key);
			let t = '';
			const ids = [];
			for (let i = 1; i <= concat.total; i++) { t += m.got[i]; ids.push(m.ids[i]); }
			whole = Object.assign({ event: 'message', text: t, parts: concat.total, concat: concat.kind, ids: ids }, base);
		}
	} else {
		whole = Object.assign({ event: 'message', text: body, parts: 1, concat: concat ? concat.kind : '', ids: [id] }, base);
	}
	session.send(pdu.response({ message_id: id }));
	if (whole) emit(whole);
	if (pdu.registered_delivery & 1) {
		const stat = pdu.destination_addr.endsWith('13') ? 'UNDELIV' : 'DELIVRD';
		// Receipts go to a receiver or transceiver of the same account,
		// which need not be the connection that submitted.
		let to = session.receives ? session : null;
		for (const s of sessions) if (!to && s.receives && s.systemID === session.systemID) to = s;
		if (to) setImmediate(() => sendReceipt(to, pdu, id, stat, stat === 'DELIVRD' ? '000' : '001'));
	}
}

const server = smpp.createServer((session) => {
	sessions.add(session);
	session.on('close', () => sessions.delete(session));
	session.on('error', () => {});
	for (const cmd of ['bind_transceiver', 'bind_transmitter', 'bind_receiver']) {
		session.on(cmd, (pdu) => {
			const ok = !(pdu.system_id in accounts) || accounts[pdu.system_id] === pdu.password;
			emit({ event: 'bind', command: cmd, system_id: pdu.system_id, password: pdu.password,
				interface_version: pdu.interface_version, ok: ok });
			if (ok) {
				session.systemID = pdu.system_id;
				session.receives = cmd !== 'bind_transmitter';
			}
			session.send(pdu.response(ok ? { system_id: 'node-smsc' } : { command_status: smpp.ESME_RBINDFAIL }));
		});
	}
	session.on('submit_sm', (pdu) => onSubmit(session, pdu));
	session.on('enquire_link', (pdu) => session.send(pdu.response()));
	session.on('unbind', (pdu) => { emit({ event: 'unbind' }); session.send(pdu.response()); session.close(); });
	session.on('unknown', (pdu) => session.send(pdu.response()));
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
	const cmd = JSON.parse(line);
	if (cmd.cmd === 'throttle') {
		throttleNext = cmd.n;
		emit({ event: 'throttle_set' });
	}
	if (cmd.cmd === 'drop') {
		const n = sessions.size;
		for (const s of sessions) s.destroy();
		emit({ event: 'dropped', sessions: n });
	}
}).on('close', () => process.exit(0));

server.listen(0, '127.0.0.1', () => emit({ event: 'listening', port: server.address().port }));
