/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shotsync-fakecam: the control socket (fault switches, status, quit) and
 * the --command client for it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"

/* ------------------------------------------------------- control socket */

const char *fault_name(char *tmp, size_t tmpsz)
{
	switch (srv.fault) {
	case F_ERROR:
		snprintf(tmp, tmpsz, "error:0x%04x", srv.fault_arg);
		return tmp;
	case F_DELAY:
		snprintf(tmp, tmpsz, "delay:%u", srv.fault_arg);
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
const char *parse_fault(const char *spec, enum fault *f, unsigned *arg)
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
		srv.fault = f;
		srv.fault_arg = arg;
		fc_verbose("fault set to %s", fault_name(tmp, sizeof(tmp)));
		ctrl_reply(c, "ok");
	} else if (!strcmp(line, "status")) {
		ctrl_reply(c, "ok serial=%s captures=%lu images=%lu objects=%zu sessions=%lu connected=%d fault=%s",
			   srv.cam.serial, srv.captures, srv.images, srv.cam.nobjects, srv.sessions,
			   srv.cmd ? 1 : 0, fault_name(tmp, sizeof(tmp)));
	} else if (!strcmp(line, "quit")) {
		ctrl_reply(c, "ok");
		srv.quit = true;
	} else if (!*line) {
		ctrl_reply(c, "error empty command");
	} else {
		ctrl_reply(c, "error unknown command (fault, status, quit)");
	}
}

bool ctrl_read(struct conn *c)
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

/* --command: send control commands to a running emulator and print the
 * replies; exit status 0 only if every reply starts with "ok". */
int run_commands(const char *path, char **cmds, size_t ncmds)
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
