/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shotsync-fakecam: the emulated camera (camera.c), independent of the
 * PTP/IP transport and the event loop (fakecam.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "wire.h"

#define FAKECAM_STORAGE_ID 0x00010001u
#define FAKECAM_MAX_OBJECTS 4096u

struct object {
	uint32_t handle;
	char name[24];          /* IMG_0001.JPG */
	char capture_date[24];  /* YYYYMMDDThhmmss */
	uint8_t *owned;         /* generated JPEG, or NULL when using --image */
	const uint8_t *bytes;
	size_t size;
	unsigned width, height; /* 0 when unknown */
};

struct camera {
	/* identity, from the command line */
	const char *serial;
	const char *model;
	const char *manufacturer;
	const char *version;
	/* --image contents, or NULL for generated JPEGs */
	const uint8_t *image;
	size_t image_size;
	unsigned width, height; /* size of generated JPEGs */

	/* "memory card" */
	struct object *objects;
	size_t nobjects;
	uint32_t next_handle;
	unsigned next_number; /* 1..9999, like real cameras */
	uint32_t seed;        /* derived from the serial, varies the images */

	/* properties */
	bool datetime_set;
	char datetime[64];
	uint8_t battery;
};

/* PTP session state of one PTP/IP connection */
struct ptp_state {
	bool open;
	uint32_t session_id;
};

struct op_req {
	uint16_t code;
	uint32_t tid;
	uint32_t p[5];
	unsigned np;
	/* data phase from the initiator (SetDevicePropValue ...) */
	bool has_data;
	const uint8_t *data;
	size_t datalen;
	bool data_truncated; /* more was sent than we kept */
};

struct op_res {
	uint16_t code;
	uint32_t p[5];
	unsigned np;
	/* data phase to the initiator: data, or ext (not owned) when set */
	bool has_data;
	struct buf data;
	const uint8_t *ext;
	size_t extlen;
};

void camera_init(struct camera *cam);
void camera_free(struct camera *cam);

/* Handle any operation except InitiateCapture. */
void camera_op(struct camera *cam, struct ptp_state *ps, const struct op_req *rq,
	       struct op_res *res);

/* Checks done before a capture (session, parameters, free space); returns
 * PTP_RC_OK or the response code to send. */
uint16_t camera_capture_check(const struct camera *cam, const struct ptp_state *ps,
			      const struct op_req *rq);

/* Store a new image captured at `when` (CLOCK_REALTIME); returns its handle. */
uint32_t camera_capture(struct camera *cam, const struct timespec *when);

/* Provided by fakecam.c */
void fc_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fc_logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
