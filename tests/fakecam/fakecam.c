/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shotsync-fakecam: a PTP/IP camera emulator for tests, benchmarks and demos.
 *
 * One process emulates one camera listening on one IPv4 address. The whole
 * program is a single-threaded poll() loop over non-blocking sockets: the
 * PTP/IP listener (command and event connections share the port), the
 * optional control UNIX socket and a signalfd. See usage() for the command
 * line and the control protocol, and camera.c for the PTP operations.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fakecam.h"

#define MAX_CONNS 24
#define READ_CHUNK 65536
#define MAX_INIT_PACKET 4096u             /* init / event connection packets */
#define MAX_CMD_PACKET ((1u << 20) + 64)  /* command connection packets */
#define MAX_DATA_IN (64u * 1024)          /* data phase bytes we keep */
#define DATA_CHUNK (1u << 20)             /* payload per outgoing Data packet */
#define MAX_CTRL_LINE 1024
#define MAX_IMAGE_SIZE (256u << 20)

enum role { R_FREE, R_NEW, R_CMD, R_EVT, R_CTRL };

struct conn {
	int fd;
	enum role role;
	unsigned long gen; /* distinguishes reuses of a slot */
	struct buf in, out;
	size_t out_off;
	struct timespec rx_ts; /* kernel receive time of the last read */
	bool close_after_flush;
};

enum fault { F_NONE, F_ERROR, F_DELAY, F_NO_EVENTS, F_CLOSE, F_HANG };

static struct {
	struct camera cam;
	bool verbose;
	int listen_fd, ctrl_fd, sig_fd, log_fd;
	const char *control_path;
	struct conn conns[MAX_CONNS];
	unsigned long next_gen;

	/* the PTP/IP session (one at a time; a new one replaces the old) */
	struct conn *cmd, *evt;
	uint32_t conn_number;
	struct ptp_state ptp;
	enum { DP_NONE, DP_WAIT_START, DP_RECV } dp;
	struct op_req dp_req;
	uint64_t dp_total, dp_got;
	struct buf dp_buf;
	bool delay_pending;
	struct timespec delay_until; /* CLOCK_MONOTONIC */
	struct op_req delay_req;
	struct timespec delay_ts;

	enum fault fault;
	unsigned fault_arg; /* response code for error, milliseconds for delay */

	unsigned long captures, images, sessions;
	bool quit;
} S = { .listen_fd = -1, .ctrl_fd = -1, .sig_fd = -1, .log_fd = -1 };

/* ------------------------------------------------------------------ logs */

void fc_verbose(const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (!S.verbose)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "fakecam[%s] %02d:%02d:%02d.%03ld ", S.cam.serial, tm.tm_hour,
		tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* One line per write(2) on an O_APPEND file: several emulators may share
 * one log file without interleaving. */
void fc_logline(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (S.log_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(S.log_fd, line, (size_t)n) != n)
		fprintf(stderr, "shotsync-fakecam: writing log: %s\n", strerror(errno));
}

/* ----------------------------------------------------------- connections */

static const char *role_name(enum role r)
{
	static const char *const names[] = { "free", "new", "command", "event", "control" };

	return names[r];
}

static void conn_close(struct conn *c)
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
	if (!S.cmd && !S.evt)
		return;
	fc_verbose("session %u ends: %s", S.conn_number, why);
	if (S.cmd)
		conn_close(S.cmd);
	if (S.evt)
		conn_close(S.evt);
	S.cmd = S.evt = NULL;
	S.ptp.open = false;
	S.dp = DP_NONE;
	buf_free(&S.dp_buf);
	S.delay_pending = false;
}

/* Close c, and the whole session if c belongs to it. */
static void drop(struct conn *c, const char *why)
{
	if (c == S.cmd || c == S.evt) {
		session_end(why);
	} else {
		if (c->role != R_CTRL)
			fc_verbose("%s connection closed: %s", role_name(c->role), why);
		conn_close(c);
	}
}

static bool is_camera_conn(const struct conn *c)
{
	return c->role == R_NEW || c->role == R_CMD || c->role == R_EVT;
}

/* Hung connections neither read nor write; the command connection is also
 * paused while a delayed InitiateCapture is pending. */
static bool conn_hung(const struct conn *c)
{
	return is_camera_conn(c) && S.fault == F_HANG;
}

static bool conn_paused(const struct conn *c)
{
	return conn_hung(c) || (c == S.cmd && S.delay_pending);
}

/* Write as much queued output as the socket takes; false if c was closed. */
static bool conn_flush(struct conn *c)
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
	struct buf *b = &S.cmd->out;
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
	struct buf *b = &S.cmd->out;
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

	if (!S.evt) {
		fc_verbose("no event connection, dropping event 0x%04x", code);
		return;
	}
	b = &S.evt->out;
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
	uint32_t handle = camera_capture(&S.cam, when);

	S.images++;
	send_response(PTP_RC_OK, tid, NULL, 0);
	if (events) {
		send_event(PTP_EC_ObjectAdded, tid, &handle, 1);
		send_event(PTP_EC_CaptureComplete, tid, NULL, 0);
	}
}

static void start_capture(const struct op_req *rq, const struct timespec *when)
{
	uint16_t code;

	S.captures++;
	fc_logline("capture %s %lld.%09ld", S.cam.serial, (long long)when->tv_sec,
		   (long)when->tv_nsec);
	fc_verbose("InitiateCapture (transaction %u) received at %lld.%09ld", rq->tid,
		   (long long)when->tv_sec, (long)when->tv_nsec);

	code = camera_capture_check(&S.cam, &S.ptp, rq);
	if (code != PTP_RC_OK) {
		send_response(code, rq->tid, NULL, 0);
		return;
	}
	switch (S.fault) {
	case F_ERROR:
		send_response((uint16_t)S.fault_arg, rq->tid, NULL, 0);
		break;
	case F_CLOSE:
		session_end("fault close: dropping connections on InitiateCapture");
		break;
	case F_DELAY:
		S.delay_pending = true;
		S.delay_until = mono_now();
		S.delay_until.tv_sec += S.fault_arg / 1000;
		S.delay_until.tv_nsec += (long)(S.fault_arg % 1000) * 1000000L;
		if (S.delay_until.tv_nsec >= 1000000000L) {
			S.delay_until.tv_sec++;
			S.delay_until.tv_nsec -= 1000000000L;
		}
		S.delay_req = *rq;
		S.delay_ts = *when;
		break;
	case F_NO_EVENTS:
		finish_capture(rq->tid, when, false);
		break;
	default:
		finish_capture(rq->tid, when, true);
		break;
	}
}

static void execute_op(const struct op_req *rq, const struct timespec *when)
{
	struct op_res res = { 0 };

	if (rq->code == PTP_OC_InitiateCapture) {
		start_capture(rq, when);
		return;
	}
	camera_op(&S.cam, &S.ptp, rq, &res);
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
		if (S.cmd)
			session_end("replaced by a new command connection");
		S.cmd = c;
		c->role = R_CMD;
		S.conn_number++;
		S.sessions++;
		S.ptp.open = false;
		S.dp = DP_NONE;
		fc_verbose("session %u: command connection from \"%s\", PTP/IP version %u.%u",
			   S.conn_number, name, version >> 16, version & 0xFFFF);
		start = pkt_begin(&c->out, PTPIP_INIT_CMD_ACK);
		buf_u32(&c->out, S.conn_number);
		for (i = 0; i < 16; i++) /* responder GUID, from the serial */
			buf_u8(&c->out, (uint8_t)(S.cam.seed >> (8 * (i % 4))) ^ (uint8_t)i);
		buf_ucs2z(&c->out, S.cam.model);
		buf_u32(&c->out, 0x00010000);
		pkt_end(&c->out, start);
		return true;
	case PTPIP_INIT_EVT_REQ:
		number = rd_u32(&r);
		if (r.err)
			break;
		if (!S.cmd || S.evt || number != S.conn_number) {
			fc_verbose("rejecting event connection for session %u", number);
			send_init_fail(c, 1);
			return true;
		}
		S.evt = c;
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
		if (S.dp != DP_NONE || len < 10 || (len - 10) % 4 || len > 10 + 5 * 4)
			break;
		dataphase = rd_u32(&r);
		rq.code = rd_u16(&r);
		rq.tid = rd_u32(&r);
		for (rq.np = 0; r.off < r.len; rq.np++)
			rq.p[rq.np] = rd_u32(&r);
		if (dataphase == 2) { /* the initiator sends data next */
			S.dp_req = rq;
			S.dp = DP_WAIT_START;
			return true;
		}
		execute_op(&rq, &c->rx_ts);
		return S.cmd == c;
	case PTPIP_START_DATA:
		tid = rd_u32(&r);
		S.dp_total = rd_u64(&r);
		if (r.err || S.dp != DP_WAIT_START || tid != S.dp_req.tid)
			break;
		S.dp_got = 0;
		S.dp_buf.len = 0;
		S.dp = DP_RECV;
		if (S.dp_total > 0)
			return true;
		goto execute; /* libgphoto2 sends no End Data for 0 bytes */
	case PTPIP_DATA:
	case PTPIP_END_DATA:
		tid = rd_u32(&r);
		if (r.err || S.dp != DP_RECV || tid != S.dp_req.tid)
			break;
		plen = len - 4;
		if (plen > S.dp_total - S.dp_got)
			break;
		S.dp_got += plen;
		if (S.dp_buf.len < MAX_DATA_IN)
			buf_put(&S.dp_buf, body + 4,
				plen < MAX_DATA_IN - S.dp_buf.len ? plen : MAX_DATA_IN - S.dp_buf.len);
		if (type == PTPIP_DATA)
			return true;
		goto execute;
	case PTPIP_CANCEL:
		fc_verbose("transaction cancelled by the initiator");
		S.dp = DP_NONE;
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
	rq = S.dp_req;
	rq.has_data = true;
	rq.data = S.dp_buf.data;
	rq.datalen = S.dp_buf.len;
	rq.data_truncated = S.dp_got > S.dp_buf.len;
	S.dp = DP_NONE;
	execute_op(&rq, &c->rx_ts);
	return S.cmd == c;
}

/* Handle the complete packets in c->in; false if c was closed. */
static bool process_input(struct conn *c)
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
static bool camera_read(struct conn *c)
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
	if (!have_ts)
		clock_gettime(CLOCK_REALTIME, &c->rx_ts);
	c->in.len += (size_t)n;
	/* quick ACKs, or libgphoto2's small writes wait for delayed ACKs */
	setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	return process_input(c);
}

/* ------------------------------------------------------- control socket */

static const char *fault_name(char *tmp, size_t tmpsz)
{
	switch (S.fault) {
	case F_ERROR:
		snprintf(tmp, tmpsz, "error:0x%04x", S.fault_arg);
		return tmp;
	case F_DELAY:
		snprintf(tmp, tmpsz, "delay:%u", S.fault_arg);
		return tmp;
	case F_NO_EVENTS:
		return "no-events";
	case F_CLOSE:
		return "close";
	case F_HANG:
		return "hang";
	default:
		return "none";
	}
}

/* "NAME [ARG]" (also "NAME:ARG" on the command line); NULL on success. */
static const char *parse_fault(const char *spec, enum fault *f, unsigned *arg)
{
	char copy[128], name[32] = "", extra[32] = "", more[2];
	unsigned long v = 0;
	char *end = NULL, *colon;
	int n;

	snprintf(copy, sizeof(copy), "%s", spec);
	colon = strchr(copy, ':');
	if (colon)
		*colon = ' ';
	n = sscanf(copy, "%31s %31s %1s", name, extra, more);
	if (n < 1 || n > 2)
		return "usage: fault none|error [CODE]|delay MS|no-events|close|hang";
	if (n == 2) {
		errno = 0;
		v = strtoul(extra, &end, 0);
		if (errno || !end || *end || end == extra)
			return "bad number";
	}
	if (!strcmp(name, "error")) {
		if (n == 1)
			v = PTP_RC_DeviceBusy;
		if (v > 0xFFFF || v == PTP_RC_OK)
			return "error code must be a 16-bit PTP response code other than 0x2001";
		*f = F_ERROR;
		*arg = (unsigned)v;
		return NULL;
	}
	if (!strcmp(name, "delay")) {
		if (n != 2 || v > 3600000)
			return "usage: fault delay MS (0..3600000)";
		*f = F_DELAY;
		*arg = (unsigned)v;
		return NULL;
	}
	if (n != 1)
		return "this fault takes no argument";
	*arg = 0;
	if (!strcmp(name, "none"))
		*f = F_NONE;
	else if (!strcmp(name, "no-events"))
		*f = F_NO_EVENTS;
	else if (!strcmp(name, "close"))
		*f = F_CLOSE;
	else if (!strcmp(name, "hang"))
		*f = F_HANG;
	else
		return "unknown fault";
	return NULL;
}

static void ctrl_reply(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ctrl_reply(struct conn *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	buf_put(&c->out, line, (size_t)n);
}

static void ctrl_command(struct conn *c, char *line)
{
	char tmp[32];
	const char *err;
	enum fault f;
	unsigned arg;
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = 0;
	while (*line == ' ' || *line == '\t')
		line++;
	if (!strncmp(line, "fault", 5) && (line[5] == ' ' || line[5] == '\t' || !line[5])) {
		err = parse_fault(line + 5, &f, &arg);
		if (err) {
			ctrl_reply(c, "error %s", err);
			return;
		}
		S.fault = f;
		S.fault_arg = arg;
		fc_verbose("fault set to %s", fault_name(tmp, sizeof(tmp)));
		ctrl_reply(c, "ok");
	} else if (!strcmp(line, "status")) {
		ctrl_reply(c, "ok serial=%s captures=%lu images=%lu objects=%zu sessions=%lu connected=%d fault=%s",
			   S.cam.serial, S.captures, S.images, S.cam.nobjects, S.sessions,
			   S.cmd ? 1 : 0, fault_name(tmp, sizeof(tmp)));
	} else if (!strcmp(line, "quit")) {
		ctrl_reply(c, "ok");
		S.quit = true;
	} else if (!*line) {
		ctrl_reply(c, "error empty command");
	} else {
		ctrl_reply(c, "error unknown command (fault, status, quit)");
	}
}

static bool ctrl_read(struct conn *c)
{
	char *nl;
	ssize_t n;

	buf_reserve(&c->in, 512);
	n = recv(c->fd, c->in.data + c->in.len, 512, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return true;
	if (n <= 0) {
		drop(c, "control client gone");
		return false;
	}
	c->in.len += (size_t)n;
	while ((nl = memchr(c->in.data, '\n', c->in.len))) {
		*nl = 0;
		if (memchr(c->in.data, 0, (size_t)(nl - (char *)c->in.data)))
			ctrl_reply(c, "error NUL byte in command");
		else
			ctrl_command(c, (char *)c->in.data);
		buf_consume(&c->in, (size_t)(nl - (char *)c->in.data) + 1);
	}
	if (c->in.len > MAX_CTRL_LINE) {
		ctrl_reply(c, "error line too long");
		c->close_after_flush = true;
	}
	return conn_flush(c);
}

/* ------------------------------------------------------------ main loop */

static struct conn *conn_new(int fd, enum role role)
{
	struct conn *c, *victim = NULL;
	size_t i;

	for (i = 0; i < MAX_CONNS; i++) {
		c = &S.conns[i];
		if (c->role == R_FREE)
			break;
		if (c->role == R_NEW && (!victim || c->gen < victim->gen))
			victim = c;
	}
	if (i == MAX_CONNS) {
		if (!victim) {
			close(fd);
			return NULL;
		}
		drop(victim, "too many connections");
		c = victim;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->role = role;
	c->gen = ++S.next_gen;
	return c;
}

static void accept_all(int lfd, enum role role)
{
	int fd, one = 1;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a transient error: poll again */
		if (role == R_NEW) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
			if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)
				fc_verbose("SO_TIMESTAMPNS: %s", strerror(errno));
		}
		if (conn_new(fd, role))
			fc_verbose("accepted %s connection", role == R_NEW ? "camera" : "control");
	}
}

static int poll_timeout(void)
{
	struct timespec now;
	long long ms;

	if (!S.delay_pending)
		return -1;
	now = mono_now();
	ms = (S.delay_until.tv_sec - now.tv_sec) * 1000LL +
	     (S.delay_until.tv_nsec - now.tv_nsec + 999999) / 1000000;
	return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

static void check_delay(void)
{
	struct timespec now;

	if (!S.delay_pending)
		return;
	now = mono_now();
	if (now.tv_sec < S.delay_until.tv_sec ||
	    (now.tv_sec == S.delay_until.tv_sec && now.tv_nsec < S.delay_until.tv_nsec))
		return;
	S.delay_pending = false;
	fc_verbose("delay over, answering InitiateCapture");
	finish_capture(S.delay_req.tid, &S.delay_ts, true);
}

static void run(void)
{
	struct pollfd pfd[MAX_CONNS + 3];
	struct conn *map[MAX_CONNS + 3];
	unsigned long gens[MAX_CONNS + 3];
	struct signalfd_siginfo si;
	struct conn *c;
	nfds_t n, i;
	short ev;

	while (!S.quit) {
		check_delay();
		/* input left over (after a delay or a hang) and pending output */
		for (i = 0; i < MAX_CONNS; i++) {
			c = &S.conns[i];
			if (is_camera_conn(c) && !process_input(c))
				continue;
			if (c->role != R_FREE && !conn_hung(c) && c->out.len)
				conn_flush(c);
		}

		n = 0;
		pfd[n] = (struct pollfd){ .fd = S.sig_fd, .events = POLLIN };
		map[n++] = NULL;
		pfd[n] = (struct pollfd){ .fd = S.listen_fd, .events = POLLIN };
		map[n++] = NULL;
		if (S.ctrl_fd >= 0) {
			pfd[n] = (struct pollfd){ .fd = S.ctrl_fd, .events = POLLIN };
			map[n++] = NULL;
		}
		for (i = 0; i < MAX_CONNS; i++) {
			c = &S.conns[i];
			if (c->role == R_FREE)
				continue;
			if (conn_hung(c))
				ev = POLLRDHUP;
			else
				ev = (short)((conn_paused(c) ? POLLRDHUP : POLLIN) |
					     (c->out.len ? POLLOUT : 0));
			pfd[n] = (struct pollfd){ .fd = c->fd, .events = ev };
			gens[n] = c->gen;
			map[n++] = c;
		}

		if (poll(pfd, n, poll_timeout()) < 0) {
			if (errno == EINTR)
				continue;
			perror("shotsync-fakecam: poll");
			return;
		}

		for (i = 0; i < n; i++) {
			ev = pfd[i].revents;
			if (!ev)
				continue;
			c = map[i];
			if (!c) {
				if (pfd[i].fd == S.sig_fd) {
					if (read(S.sig_fd, &si, sizeof(si)) == sizeof(si)) {
						fc_verbose("signal %u, exiting", si.ssi_signo);
						S.quit = true;
					}
				} else {
					accept_all(pfd[i].fd, pfd[i].fd == S.listen_fd ? R_NEW : R_CTRL);
				}
				continue;
			}
			if (c->role == R_FREE || c->gen != gens[i])
				continue; /* closed meanwhile */
			if (ev & POLLOUT && !conn_flush(c))
				continue;
			if (ev & POLLIN) {
				if (!(c->role == R_CTRL ? ctrl_read(c) : camera_read(c)))
					continue;
			} else if (ev & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) {
				drop(c, "connection closed");
			}
		}
	}
	/* best effort: let control clients see the reply to "quit" */
	for (i = 0; i < MAX_CONNS; i++)
		if (S.conns[i].role == R_CTRL && S.conns[i].out.len)
			conn_flush(&S.conns[i]);
}

/* ---------------------------------------------------------------- setup */

static void usage(FILE *f)
{
	fputs("Usage: shotsync-fakecam [OPTION]...\n"
	      "Emulate one PTP/IP camera (command and event connection on one port)\n"
	      "for libgphoto2's \"PTP/IP Camera\" model, e.g.\n"
	      "  gphoto2 --camera \"PTP/IP Camera\" --port ptpip:127.0.0.2 --summary\n"
	      "\n"
	      "  -a, --address ADDR     IPv4 address to listen on (default 127.0.0.1)\n"
	      "  -p, --port N           TCP port (default 15740, 0 = any free port)\n"
	      "  -s, --serial S         serial number (default FAKECAM0001; no spaces)\n"
	      "  -m, --model M          model name (default \"Fakecam\")\n"
	      "      --manufacturer M   manufacturer (default \"Shotsync Emulator\")\n"
	      "  -i, --image FILE       serve FILE (a JPEG) for every capture instead of\n"
	      "                         the built-in generated greyscale JPEG\n"
	      "      --size WxH         size of generated JPEGs (default 160x120)\n"
	      "  -l, --log FILE         append timestamp lines to FILE (see below)\n"
	      "  -c, --control PATH     listen for control commands on UNIX socket PATH\n"
	      "  -f, --fault SPEC       initial fault, as in the control command,\n"
	      "                         e.g. --fault error, --fault \"delay 500\", --fault delay:500\n"
	      "  -v, --verbose          log connections, operations and faults to stderr\n"
	      "      --command CMD      client mode: send CMD (repeatable) to the emulator\n"
	      "                         listening on --control PATH, print the replies;\n"
	      "                         exit 0 if all replies are ok, 1 if not, 2 on failure\n"
	      "  -h, --help             show this help\n"
	      "\n"
	      "Once listening, prints \"ready ADDR:PORT\" on stdout and flushes it.\n"
	      "SIGTERM and SIGINT make it exit with status 0.\n"
	      "\n"
	      "Log file lines (one write each, so several emulators can share a file):\n"
	      "  capture SERIAL SEC.NSEC   per InitiateCapture received, whatever the fault;\n"
	      "                            SEC.NSEC is the kernel receive time of the request\n"
	      "                            (SO_TIMESTAMPNS, CLOCK_REALTIME)\n"
	      "  setclock SERIAL VALUE     per accepted DateTime (0x5011) change\n"
	      "\n"
	      "Control commands (one per line; each answered \"ok...\" or \"error ...\"):\n"
	      "  fault none           normal behaviour\n"
	      "  fault error [CODE]   answer InitiateCapture with CODE (default 0x2019 busy)\n"
	      "  fault delay MS       answer InitiateCapture (and send events) MS ms later\n"
	      "  fault no-events      answer OK, store the image, but send no events\n"
	      "  fault close          close both connections on InitiateCapture, no answer\n"
	      "  fault hang           stop reading and writing both connections (kept open\n"
	      "                       until the client closes them) until the fault changes\n"
	      "  status               ok serial=S captures=N images=N objects=N sessions=N\n"
	      "                       connected=0|1 fault=F\n"
	      "  quit                 exit (status 0)\n",
	      f);
}

static bool load_image(const char *path)
{
	struct stat st;
	uint8_t *data;
	size_t got = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > MAX_IMAGE_SIZE) {
		fprintf(stderr, "shotsync-fakecam: cannot use %s as image\n", path);
		if (fd >= 0)
			close(fd);
		return false;
	}
	data = xmalloc((size_t)st.st_size);
	while (got < (size_t)st.st_size) {
		n = read(fd, data + got, (size_t)st.st_size - got);
		if (n <= 0) {
			fprintf(stderr, "shotsync-fakecam: reading %s failed\n", path);
			free(data);
			close(fd);
			return false;
		}
		got += (size_t)n;
	}
	close(fd);
	S.cam.image = data;
	S.cam.image_size = got;
	return true;
}

static bool valid_serial(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 200)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7F)
			return false;
	return true;
}

static int listen_tcp(const char *address, unsigned port, char *ready, size_t readysz)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t slen = sizeof(sa);
	int fd, one = 1;

	if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) {
		fprintf(stderr, "shotsync-fakecam: bad IPv4 address %s\n", address);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &slen) < 0) {
		fprintf(stderr, "shotsync-fakecam: listening on %s:%u: %s\n", address, port,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(ready, readysz, "%s:%u", address, ntohs(sa.sin_port));
	return fd;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "shotsync-fakecam: control path too long\n");
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "shotsync-fakecam: %s exists and is not a socket\n", path);
			return -1;
		}
		unlink(path); /* stale socket of an earlier run */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		fprintf(stderr, "shotsync-fakecam: control socket %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* --command: send control commands to a running emulator and print the
 * replies; exit status 0 only if every reply starts with "ok". */
static int run_commands(const char *path, char **cmds, size_t ncmds)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd pfd;
	char reply[1024];
	size_t i, got;
	ssize_t n;
	int fd, ret = 0;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "shotsync-fakecam: control path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "shotsync-fakecam: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 2;
	}
	for (i = 0; i < ncmds; i++) {
		if (dprintf(fd, "%s\n", cmds[i]) < 0) {
			ret = 2;
			break;
		}
		got = 0;
		for (;;) {
			pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
			if (poll(&pfd, 1, 10000) <= 0) {
				fprintf(stderr, "shotsync-fakecam: no reply to \"%s\"\n", cmds[i]);
				close(fd);
				return 2;
			}
			n = read(fd, reply + got, sizeof(reply) - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
			if (memchr(reply, '\n', got) || got == sizeof(reply) - 1)
				break;
		}
		reply[got] = 0;
		if (!got) {
			fprintf(stderr, "shotsync-fakecam: connection closed\n");
			ret = 2;
			break;
		}
		fputs(reply, stdout);
		if (strncmp(reply, "ok", 2))
			ret = 1;
	}
	close(fd);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "serial", required_argument, NULL, 's' },
		{ "model", required_argument, NULL, 'm' },
		{ "manufacturer", required_argument, NULL, 'M' },
		{ "image", required_argument, NULL, 'i' },
		{ "size", required_argument, NULL, 'S' },
		{ "log", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 'c' },
		{ "fault", required_argument, NULL, 'f' },
		{ "command", required_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *address = "127.0.0.1", *image = NULL, *log_path = NULL, *err;
	unsigned long port = 15740;
	char ready[64], *end, **cmds = NULL;
	size_t ncmds = 0;
	unsigned w, h;
	sigset_t sigs;
	int opt, ret = 1;
	size_t i;

	S.cam.serial = "FAKECAM0001";
	S.cam.model = "Fakecam";
	S.cam.manufacturer = "Shotsync Emulator";
	S.cam.version = "shotsync-fakecam 1.0";
	S.cam.width = 160;
	S.cam.height = 120;

	while ((opt = getopt_long(argc, argv, "a:p:s:m:i:l:c:f:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'a': address = optarg; break;
		case 'p':
			errno = 0;
			port = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || port > 65535) {
				fprintf(stderr, "shotsync-fakecam: bad port %s\n", optarg);
				return 2;
			}
			break;
		case 's': S.cam.serial = optarg; break;
		case 'm': S.cam.model = optarg; break;
		case 'M': S.cam.manufacturer = optarg; break;
		case 'i': image = optarg; break;
		case 'S':
			if (sscanf(optarg, "%ux%u", &w, &h) != 2 || w < 8 || h < 16 || w > 2040 ||
			    h > 2040) {
				fprintf(stderr, "shotsync-fakecam: bad size %s (8x16..2040x2040)\n",
					optarg);
				return 2;
			}
			S.cam.width = w;
			S.cam.height = h;
			break;
		case 'l': log_path = optarg; break;
		case 'c': S.control_path = optarg; break;
		case 'f':
			err = parse_fault(optarg, &S.fault, &S.fault_arg);
			if (err) {
				fprintf(stderr, "shotsync-fakecam: --fault %s: %s\n", optarg, err);
				return 2;
			}
			break;
		case 'C':
			if (!cmds)
				cmds = xmalloc((size_t)argc * sizeof(*cmds));
			cmds[ncmds++] = optarg;
			break;
		case 'v': S.verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "shotsync-fakecam: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (cmds) {
		if (!S.control_path) {
			fprintf(stderr, "shotsync-fakecam: --command needs --control PATH\n");
			free(cmds);
			return 2;
		}
		ret = run_commands(S.control_path, cmds, ncmds);
		free(cmds);
		return ret;
	}
	if (!valid_serial(S.cam.serial)) {
		fprintf(stderr, "shotsync-fakecam: serial must be 1-200 printable characters without spaces\n");
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	S.sig_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (S.sig_fd < 0) {
		perror("shotsync-fakecam: signalfd");
		return 1;
	}
	if (image && !load_image(image))
		goto out;
	camera_init(&S.cam);
	if (log_path) {
		S.log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (S.log_fd < 0) {
			fprintf(stderr, "shotsync-fakecam: %s: %s\n", log_path, strerror(errno));
			goto out;
		}
	}
	S.listen_fd = listen_tcp(address, (unsigned)port, ready, sizeof(ready));
	if (S.listen_fd < 0)
		goto out;
	if (S.control_path) {
		S.ctrl_fd = listen_unix(S.control_path);
		if (S.ctrl_fd < 0) {
			S.control_path = NULL;
			goto out;
		}
	}
	for (i = 0; i < MAX_CONNS; i++)
		S.conns[i].fd = -1;

	printf("ready %s\n", ready);
	fflush(stdout);
	fc_verbose("listening on %s, model \"%s\"", ready, S.cam.model);
	run();
	ret = 0;

out:
	for (i = 0; i < MAX_CONNS; i++)
		conn_close(&S.conns[i]);
	buf_free(&S.dp_buf);
	if (S.listen_fd >= 0)
		close(S.listen_fd);
	if (S.ctrl_fd >= 0)
		close(S.ctrl_fd);
	if (S.control_path)
		unlink(S.control_path);
	if (S.log_fd >= 0)
		close(S.log_fd);
	close(S.sig_fd);
	camera_free(&S.cam);
	free((void *)S.cam.image);
	return ret;
}
