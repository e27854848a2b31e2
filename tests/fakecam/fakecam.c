/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shotsync-fakecam: a PTP/IP camera emulator for tests, benchmarks and demos.
 *
 * One process emulates one camera listening on one IPv4 address. The whole
 * program is a single-threaded poll() loop over non-blocking sockets: the
 * PTP/IP listener (command and event connections share the port), the
 * optional control UNIX socket and a signalfd. See usage() for the command
 * line and the control protocol, ptpip.c for the transport, control.c for
 * the control socket and camera.c for the PTP operations.
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

#include "server.h"

#define MAX_IMAGE_SIZE (256u << 20)

struct server srv = { .listen_fd = -1, .ctrl_fd = -1, .sig_fd = -1, .log_fd = -1 };

/* ------------------------------------------------------------------ logs */

void fc_verbose(const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (!srv.verbose)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "fakecam[%s] %02d:%02d:%02d.%03ld ", srv.cam.serial, tm.tm_hour,
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

	if (srv.log_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(srv.log_fd, line, (size_t)n) != n)
		fprintf(stderr, "shotsync-fakecam: writing log: %s\n", strerror(errno));
}

/* ------------------------------------------------------------ main loop */

static struct conn *conn_new(int fd, enum role role)
{
	struct conn *c, *victim = NULL;
	size_t i;

	for (i = 0; i < MAX_CONNS; i++) {
		c = &srv.conns[i];
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
	c->gen = ++srv.next_gen;
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

static void run(void)
{
	struct pollfd pfd[MAX_CONNS + 3];
	struct conn *map[MAX_CONNS + 3];
	unsigned long gens[MAX_CONNS + 3];
	struct signalfd_siginfo si;
	struct conn *c;
	nfds_t n, i;
	short ev;

	while (!srv.quit) {
		ptpip_check_delay();
		/* input left over (after a delay or a hang) and pending output */
		for (i = 0; i < MAX_CONNS; i++) {
			c = &srv.conns[i];
			if (is_camera_conn(c) && !process_input(c))
				continue;
			if (c->role != R_FREE && !conn_hung(c) && c->out.len)
				conn_flush(c);
		}

		n = 0;
		pfd[n] = (struct pollfd){ .fd = srv.sig_fd, .events = POLLIN };
		map[n++] = NULL;
		pfd[n] = (struct pollfd){ .fd = srv.listen_fd, .events = POLLIN };
		map[n++] = NULL;
		if (srv.ctrl_fd >= 0) {
			pfd[n] = (struct pollfd){ .fd = srv.ctrl_fd, .events = POLLIN };
			map[n++] = NULL;
		}
		for (i = 0; i < MAX_CONNS; i++) {
			c = &srv.conns[i];
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

		if (poll(pfd, n, ptpip_poll_timeout()) < 0) {
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
				if (pfd[i].fd == srv.sig_fd) {
					if (read(srv.sig_fd, &si, sizeof(si)) == sizeof(si)) {
						fc_verbose("signal %u, exiting", si.ssi_signo);
						srv.quit = true;
					}
				} else {
					accept_all(pfd[i].fd, pfd[i].fd == srv.listen_fd ? R_NEW : R_CTRL);
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
		if (srv.conns[i].role == R_CTRL && srv.conns[i].out.len)
			conn_flush(&srv.conns[i]);
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
	      "                       until the client closes them) until the fault changes;\n"
	      "                       then requests sent meanwhile are processed late\n"
	      "  status               ok serial=S captures=N images=N objects=N sessions=N\n"
	      "                       connected=0|1 fault=F\n"
	      "  quit                 exit (status 0)\n"
	      "Faults persist until changed. One PTP/IP session at a time: a new command\n"
	      "connection replaces the current one. Objects persist across sessions.\n",
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
	srv.cam.image = data;
	srv.cam.image_size = got;
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

	srv.cam.serial = "FAKECAM0001";
	srv.cam.model = "Fakecam";
	srv.cam.manufacturer = "Shotsync Emulator";
	srv.cam.version = "shotsync-fakecam 1.0";
	srv.cam.width = 160;
	srv.cam.height = 120;

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
		case 's': srv.cam.serial = optarg; break;
		case 'm': srv.cam.model = optarg; break;
		case 'M': srv.cam.manufacturer = optarg; break;
		case 'i': image = optarg; break;
		case 'S':
			if (sscanf(optarg, "%ux%u", &w, &h) != 2 || w < 8 || h < 16 || w > 2040 ||
			    h > 2040) {
				fprintf(stderr, "shotsync-fakecam: bad size %s (8x16..2040x2040)\n",
					optarg);
				return 2;
			}
			srv.cam.width = w;
			srv.cam.height = h;
			break;
		case 'l': log_path = optarg; break;
		case 'c': srv.control_path = optarg; break;
		case 'f':
			err = parse_fault(optarg, &srv.fault, &srv.fault_arg);
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
		case 'v': srv.verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "shotsync-fakecam: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (cmds) {
		if (!srv.control_path) {
			fprintf(stderr, "shotsync-fakecam: --command needs --control PATH\n");
			free(cmds);
			return 2;
		}
		ret = run_commands(srv.control_path, cmds, ncmds);
		free(cmds);
		return ret;
	}
	if (!valid_serial(srv.cam.serial)) {
		fprintf(stderr, "shotsync-fakecam: serial must be 1-200 printable characters without spaces\n");
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	srv.sig_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (srv.sig_fd < 0) {
		perror("shotsync-fakecam: signalfd");
		return 1;
	}
	if (image && !load_image(image))
		goto out;
	camera_init(&srv.cam);
	if (log_path) {
		srv.log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (srv.log_fd < 0) {
			fprintf(stderr, "shotsync-fakecam: %s: %s\n", log_path, strerror(errno));
			goto out;
		}
	}
	srv.listen_fd = listen_tcp(address, (unsigned)port, ready, sizeof(ready));
	if (srv.listen_fd < 0)
		goto out;
	if (srv.control_path) {
		srv.ctrl_fd = listen_unix(srv.control_path);
		if (srv.ctrl_fd < 0) {
			srv.control_path = NULL;
			goto out;
		}
	}
	for (i = 0; i < MAX_CONNS; i++)
		srv.conns[i].fd = -1;

	printf("ready %s\n", ready);
	fflush(stdout);
	fc_verbose("listening on %s, model \"%s\"", ready, srv.cam.model);
	run();
	ret = 0;

out:
	for (i = 0; i < MAX_CONNS; i++)
		conn_close(&srv.conns[i]);
	buf_free(&srv.dp_buf);
	if (srv.listen_fd >= 0)
		close(srv.listen_fd);
	if (srv.ctrl_fd >= 0)
		close(srv.ctrl_fd);
	if (srv.control_path)
		unlink(srv.control_path);
	if (srv.log_fd >= 0)
		close(srv.log_fd);
	close(srv.sig_fd);
	camera_free(&srv.cam);
	free((void *)srv.cam.image);
	return ret;
}
