/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shotsync-fakecam: the PTP/IP transport. Connection bookkeeping, packet
 * framing and validation (lengths from the client are never trusted), the
 * command / event connection handshake, data phases in both directions, and
 * InitiateCapture with its fault switches and kernel receive timestamps.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"

/* ----------------------------------------------------------- connections */

static const char *role_name(enum role r)
{
	static const char *const names[] = { "free", "new", "command", "event", "control" };

	return names[r];
}

void conn_close(struct conn *c)
{
	if (c->role == R_FREE)
		return;
	close(c->fd);
	c->fd = -1;
	c->role = R_FREE;
	buf_free(&c->in);
	buf_free(&c->out);
	c->out_off = 0;
	c->close_after_flush = false;
}

static void session_end(const char *why)
{
	if (!srv.cmd && !srv.evt)
		return;
	fc_verbose("session %u ends: %s", srv.conn_number, why);
	if (srv.cmd)
		conn_close(srv.cmd);
	if (srv.evt)
		conn_close(srv.evt);
	srv.cmd = srv.evt = NULL;
	srv.ptp.open = false;
	srv.dp = DP_NONE;
	buf_free(&srv.dp_buf);
	srv.delay_pending = false;
}

/* Close c, and the whole session if c belongs to it. */
void drop(struct conn *c, const char *why)
{
	if (c == srv.cmd || c == srv.evt) {
		session_end(why);
	} else {
		if (c->role != R_CTRL)
			fc_verbose("%s connection closed: %s", role_name(c->role), why);
		conn_close(c);
	}
}

bool is_camera_conn(const struct conn *c)
{
	return c->role == R_NEW || c->role == R_CMD || c->role == R_EVT;
}

/* Hung connections neither read nor write; the command connection is also
 * paused while a delayed InitiateCapture is pending. */
bool conn_hung(const struct conn *c)
{
	return is_camera_conn(c) && srv.fault == F_HANG;
}

bool conn_paused(const struct conn *c)
{
	return conn_hung(c) || (c == srv.cmd && srv.delay_pending);
}

/* Write as much queued output as the socket takes; false if c was closed. */
bool conn_flush(struct conn *c)
{
	ssize_t n;

	while (c->out_off < c->out.len) {
		n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			drop(c, strerror(errno));
			return false;
		}
		c->out_off += (size_t)n;
	}
	c->out.len = 0;
	c->out_off = 0;
	if (c->close_after_flush) {
		drop(c, "closed after reply");
		return false;
	}
	return true;
}

/* ------------------------------------------------------ PTP/IP sending */

static void send_response(uint16_t code, uint32_t tid, const uint32_t *p, unsigned np)
{
	struct buf *b = &srv.cmd->out;
	size_t start = pkt_begin(b, PTPIP_OP_RESP);
	unsigned i;

	buf_u16(b, code);
	buf_u32(b, tid);
	for (i = 0; i < np && i < 5; i++)
		buf_u32(b, p[i]);
	pkt_end(b, start);
	if (code != PTP_RC_OK)
		fc_verbose("response 0x%04x to transaction %u", code, tid);
}

static void send_result(uint32_t tid, const struct op_res *res)
{
	struct buf *b = &srv.cmd->out;
	const uint8_t *d = res->ext ? res->ext : res->data.data;
	size_t n = res->ext ? res->extlen : res->data.len;
	size_t start, chunk;

	if (res->has_data) {
		start = pkt_begin(b, PTPIP_START_DATA);
		buf_u32(b, tid);
		buf_u64(b, n);
		pkt_end(b, start);
		buf_reserve(b, n + 16 * (n / DATA_CHUNK + 1));
		do {
			chunk = n > DATA_CHUNK ? DATA_CHUNK : n;
			start = pkt_begin(b, chunk == n ? PTPIP_END_DATA : PTPIP_DATA);
			buf_u32(b, tid);
			buf_put(b, d, chunk);
			pkt_end(b, start);
			d += chunk;
			n -= chunk;
		} while (n > 0);
	}
	send_response(res->code, tid, res->p, res->np);
}

static void send_event(uint16_t code, uint32_t tid, const uint32_t *p, unsigned np)
{
	struct buf *b;
	size_t start;
	unsigned i;

	if (!srv.evt) {
		fc_verbose("no event connection, dropping event 0x%04x", code);
		return;
	}
	b = &srv.evt->out;
	start = pkt_begin(b, PTPIP_EVENT);
	buf_u16(b, code);
	buf_u32(b, tid);
	for (i = 0; i < np; i++)
		buf_u32(b, p[i]);
	pkt_end(b, start);
}

/* -------------------------------------------------------------- capture */

static struct timespec mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts;
}

static void finish_capture(uint32_t tid, const struct timespec *when, bool events)
{
	uint32_t handle = camera_capture(&srv.cam, when);

	srv.images++;
	send_response(PTP_RC_OK, tid, NULL, 0);
	if (events) {
		send_event(PTP_EC_ObjectAdded, tid, &handle, 1);
		send_event(PTP_EC_CaptureComplete, tid, NULL, 0);
	}
}

static void start_capture(const struct op_req *rq, const struct timespec *when)
{
	uint16_t code;

	srv.captures++;
	fc_logline("capture %s %lld.%09ld", srv.cam.serial, (long long)when->tv_sec,
		   (long)when->tv_nsec);
	fc_verbose("InitiateCapture (transaction %u) received at %lld.%09ld", rq->tid,
		   (long long)when->tv_sec, (long)when->tv_nsec);

	code = camera_capture_check(&srv.cam, &srv.ptp, rq);
	if (code != PTP_RC_OK) {
		send_response(code, rq->tid, NULL, 0);
		return;
	}
	switch (srv.fault) {
	case F_ERROR:
		send_response((uint16_t)srv.fault_arg, rq->tid, NULL, 0);
		break;
	case F_CLOSE:
		session_end("fault close: dropping connections on InitiateCapture");
		break;
	case F_DELAY:
		srv.delay_pending = true;
		srv.delay_until = mono_now();
		srv.delay_until.tv_sec += srv.fault_arg / 1000;
		srv.delay_until.tv_nsec += (long)(srv.fault_arg % 1000) * 1000000L;
		if (srv.delay_until.tv_nsec >= 1000000000L) {
			srv.delay_until.tv_sec++;
			srv.delay_until.tv_nsec -= 1000000000L;
		}
		srv.delay_req = *rq;
		srv.delay_ts = *when;
		break;
	case F_NO_EVENTS:
		finish_capture(rq->tid, when, false);
		break;
	default:
		finish_capture(rq->tid, when, true);
		break;
	}
}

static void execute_op(const struct op_req *rq, const struct conn *c)
{
	struct op_res res = { 0 };

	if (rq->code == PTP_OC_InitiateCapture) {
		if (!c->rx_ts_kernel)
			fc_verbose("no kernel receive timestamp, using the time of the read");
		start_capture(rq, &c->rx_ts);
		return;
	}
	camera_op(&srv.cam, &srv.ptp, rq, &res);
	send_result(rq->tid, &res);
	buf_free(&res.data);
}

/* ------------------------------------------------------ PTP/IP receiving */

static void buf_ucs2z(struct buf *b, const char *s)
{
	for (; *s; s++)
		buf_u16(b, (unsigned char)*s < 0x80 ? (unsigned char)*s : '?');
	buf_u16(b, 0);
}

static void send_init_fail(struct conn *c, uint32_t reason)
{
	size_t start = pkt_begin(&c->out, PTPIP_INIT_FAIL);

	buf_u32(&c->out, reason);
	pkt_end(&c->out, start);
	c->close_after_flush = true;
}

/* First packet on a new connection: decides whether it is a command or an
 * event connection. Returns false if c was closed. */
static bool new_packet(struct conn *c, uint32_t type, const uint8_t *body, size_t len)
{
	struct rd r = rd_init(body, len);
	char name[128];
	uint32_t version, number;
	size_t start;
	unsigned i;

	switch (type) {
	case PTPIP_INIT_CMD_REQ:
		for (i = 0; i < 16; i++) /* initiator GUID */
			rd_u8(&r);
		if (!rd_ucs2z(&r, name, sizeof(name)))
			break;
		version = rd_u32(&r);
		if (r.err)
			break;
		if (srv.cmd)
			session_end("replaced by a new command connection");
		srv.cmd = c;
		c->role = R_CMD;
		srv.conn_number++;
		srv.sessions++;
		srv.ptp.open = false;
		srv.dp = DP_NONE;
		fc_verbose("session %u: command connection from \"%s\", PTP/IP version %u.%u",
			   srv.conn_number, name, version >> 16, version & 0xFFFF);
		start = pkt_begin(&c->out, PTPIP_INIT_CMD_ACK);
		buf_u32(&c->out, srv.conn_number);
		for (i = 0; i < 16; i++) /* responder GUID, from the serial */
			buf_u8(&c->out, (uint8_t)(srv.cam.seed >> (8 * (i % 4))) ^ (uint8_t)i);
		buf_ucs2z(&c->out, srv.cam.model);
		buf_u32(&c->out, 0x00010000);
		pkt_end(&c->out, start);
		return true;
	case PTPIP_INIT_EVT_REQ:
		number = rd_u32(&r);
		if (r.err)
			break;
		if (!srv.cmd || srv.evt || number != srv.conn_number) {
			fc_verbose("rejecting event connection for session %u", number);
			send_init_fail(c, 1);
			return true;
		}
		srv.evt = c;
		c->role = R_EVT;
		start = pkt_begin(&c->out, PTPIP_INIT_EVT_ACK);
		pkt_end(&c->out, start);
		fc_verbose("session %u: event connection", number);
		return true;
	default:
		break;
	}
	drop(c, "bad initial packet");
	return false;
}

static bool evt_packet(struct conn *c, uint32_t type)
{
	size_t start;

	if (type == PTPIP_PING) {
		start = pkt_begin(&c->out, PTPIP_PONG);
		pkt_end(&c->out, start);
	} else {
		fc_verbose("ignoring packet type %u on the event connection", type);
	}
	return true;
}

static bool cmd_packet(struct conn *c, uint32_t type, const uint8_t *body, size_t len)
{
	struct rd r = rd_init(body, len);
	struct op_req rq = { 0 };
	uint32_t dataphase, tid;
	size_t start, plen;

	switch (type) {
	case PTPIP_OP_REQ:
		if (srv.dp != DP_NONE || len < 10 || (len - 10) % 4 || len > 10 + 5 * 4)
			break;
		dataphase = rd_u32(&r);
		rq.code = rd_u16(&r);
		rq.tid = rd_u32(&r);
		for (rq.np = 0; r.off < r.len; rq.np++)
			rq.p[rq.np] = rd_u32(&r);
		if (dataphase == 2) { /* the initiator sends data next */
			srv.dp_req = rq;
			srv.dp = DP_WAIT_START;
			return true;
		}
		execute_op(&rq, c);
		return srv.cmd == c;
	case PTPIP_START_DATA:
		tid = rd_u32(&r);
		srv.dp_total = rd_u64(&r);
		if (r.err || srv.dp != DP_WAIT_START || tid != srv.dp_req.tid)
			break;
		srv.dp_got = 0;
		srv.dp_buf.len = 0;
		srv.dp = DP_RECV;
		if (srv.dp_total > 0)
			return true;
		goto execute; /* libgphoto2 sends no End Data for 0 bytes */
	case PTPIP_DATA:
	case PTPIP_END_DATA:
		tid = rd_u32(&r);
		if (r.err || srv.dp != DP_RECV || tid != srv.dp_req.tid)
			break;
		plen = len - 4;
		if (plen > srv.dp_total - srv.dp_got)
			break;
		srv.dp_got += plen;
		if (srv.dp_buf.len < MAX_DATA_IN)
			buf_put(&srv.dp_buf, body + 4,
				plen < MAX_DATA_IN - srv.dp_buf.len ? plen : MAX_DATA_IN - srv.dp_buf.len);
		if (type == PTPIP_DATA)
			return true;
		goto execute;
	case PTPIP_CANCEL:
		fc_verbose("transaction cancelled by the initiator");
		srv.dp = DP_NONE;
		return true;
	case PTPIP_PING:
		start = pkt_begin(&c->out, PTPIP_PONG);
		pkt_end(&c->out, start);
		return true;
	default:
		fc_verbose("ignoring packet type %u on the command connection", type);
		return true;
	}
	drop(c, "protocol error on the command connection");
	return false;

execute:
	rq = srv.dp_req;
	rq.has_data = true;
	rq.data = srv.dp_buf.data;
	rq.datalen = srv.dp_buf.len;
	rq.data_truncated = srv.dp_got > srv.dp_buf.len;
	srv.dp = DP_NONE;
	execute_op(&rq, c);
	return srv.cmd == c;
}

/* Handle the complete packets in c->in; false if c was closed. */
bool process_input(struct conn *c)
{
	uint32_t len, type, max;
	bool alive;

	while (is_camera_conn(c) && !conn_paused(c) && !c->close_after_flush &&
	       c->in.len >= PTPIP_HDR_LEN) {
		len = le32(c->in.data);
		type = le32(c->in.data + 4);
		max = c->role == R_CMD ? MAX_CMD_PACKET : MAX_INIT_PACKET;
		if (len < PTPIP_HDR_LEN || len > max) {
			drop(c, "bad packet length");
			return false;
		}
		if (c->in.len < len)
			break;
		switch (c->role) {
		case R_NEW:
			alive = new_packet(c, type, c->in.data + 8, len - 8);
			break;
		case R_CMD:
			alive = cmd_packet(c, type, c->in.data + 8, len - 8);
			break;
		default:
			alive = evt_packet(c, type);
			break;
		}
		if (!alive)
			return false;
		buf_consume(&c->in, len);
	}
	return true;
}

/* One recvmsg() with the kernel receive timestamp; false if c was closed. */
bool camera_read(struct conn *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec)) * 2];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr msg = { 0 };
	struct cmsghdr *cm;
	bool have_ts = false;
	ssize_t n;
	int one = 1;

	buf_reserve(&c->in, READ_CHUNK);
	iov.iov_base = c->in.data + c->in.len;
	iov.iov_len = READ_CHUNK;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	n = recvmsg(c->fd, &msg, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return true;
		drop(c, strerror(errno));
		return false;
	}
	if (n == 0) {
		drop(c, "closed by peer");
		return false;
	}
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
			memcpy(&c->rx_ts, CMSG_DATA(cm), sizeof(struct timespec));
			have_ts = c->rx_ts.tv_sec != 0;
		}
	}
	c->rx_ts_kernel = have_ts;
	if (!have_ts)
		clock_gettime(CLOCK_REALTIME, &c->rx_ts);
	c->in.len += (size_t)n;
	/* quick ACKs, or libgphoto2's small writes wait for delayed ACKs */
	setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	return process_input(c);
}

int ptpip_poll_timeout(void)
{
	struct timespec now;
	long long ms;

	if (!srv.delay_pending)
		return -1;
	now = mono_now();
	ms = (srv.delay_until.tv_sec - now.tv_sec) * 1000LL +
	     (srv.delay_until.tv_nsec - now.tv_nsec + 999999) / 1000000;
	return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

void ptpip_check_delay(void)
{
	struct timespec now;

	if (!srv.delay_pending)
		return;
	now = mono_now();
	if (now.tv_sec < srv.delay_until.tv_sec ||
	    (now.tv_sec == srv.delay_until.tv_sec && now.tv_nsec < srv.delay_until.tv_nsec))
		return;
	srv.delay_pending = false;
	fc_verbose("delay over, answering InitiateCapture");
	finish_capture(srv.delay_req.tid, &srv.delay_ts, true);
}
