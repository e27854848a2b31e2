/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shotsync-fakecam: state shared by the event loop (fakecam.c), the PTP/IP
 * transport (ptpip.c) and the control socket (control.c). Single-threaded:
 * everything runs from the poll() loop in fakecam.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "fakecam.h"

#define MAX_CONNS 24
#define READ_CHUNK 65536
#define MAX_INIT_PACKET 4096u             /* init / event connection packets */
#define MAX_CMD_PACKET ((1u << 20) + 64)  /* command connection packets */
#define MAX_DATA_IN (64u * 1024)          /* data phase bytes we keep */
#define DATA_CHUNK (1u << 20)             /* payload per outgoing Data packet */
#define MAX_CTRL_LINE 1024

enum role { R_FREE, R_NEW, R_CMD, R_EVT, R_CTRL };

struct conn {
	int fd;
	enum role role;
	unsigned long gen; /* distinguishes reuses of a slot */
	struct buf in, out;
	size_t out_off;
	struct timespec rx_ts; /* kernel receive time of the last read */
	bool rx_ts_kernel;     /* false: SO_TIMESTAMPNS missing, rx_ts is read time */
	bool close_after_flush;
};

enum fault { F_NONE, F_ERROR, F_DELAY, F_NO_EVENTS, F_CLOSE, F_HANG };

struct server {
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
	enum { DP_NONE, DP_WAIT_START, DP_RECV } dp; /* data phase from the initiator */
	struct op_req dp_req;
	uint64_t dp_total, dp_got;
	struct buf dp_buf;
	bool delay_pending; /* fault delay: InitiateCapture not answered yet */
	struct timespec delay_until; /* CLOCK_MONOTONIC */
	struct op_req delay_req;
	struct timespec delay_ts;

	enum fault fault;
	unsigned fault_arg; /* response code for error, milliseconds for delay */

	unsigned long captures, images, sessions;
	bool quit;
};

extern struct server srv;

/* ptpip.c */
void conn_close(struct conn *c);
/* Close c, and the whole PTP/IP session if c belongs to it. */
void drop(struct conn *c, const char *why);
bool is_camera_conn(const struct conn *c);
bool conn_hung(const struct conn *c);
bool conn_paused(const struct conn *c);
/* The functions below return false if c was closed. */
bool conn_flush(struct conn *c);
bool process_input(struct conn *c);
bool camera_read(struct conn *c);
int ptpip_poll_timeout(void);
void ptpip_check_delay(void);

/* control.c */
const char *fault_name(char *tmp, size_t tmpsz);
const char *parse_fault(const char *spec, enum fault *f, unsigned *arg);
bool ctrl_read(struct conn *c);
int run_commands(const char *path, char **cmds, size_t ncmds);
