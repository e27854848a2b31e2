/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shotsync-fakecam: the emulated camera. Implements the PTP operations on
 * an in-memory "memory card" with one storage and a flat list of JPEG
 * objects (no folders: ParentObject is always 0, so libgphoto2 shows the
 * files as /store_00010001/IMG_0001.JPG).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "fakecam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpeg.h"

static const uint16_t supported_ops[] = {
	PTP_OC_GetDeviceInfo,	   PTP_OC_OpenSession,	      PTP_OC_CloseSession,
	PTP_OC_GetStorageIDs,	   PTP_OC_GetStorageInfo,     PTP_OC_GetNumObjects,
	PTP_OC_GetObjectHandles,   PTP_OC_GetObjectInfo,      PTP_OC_GetObject,
	PTP_OC_DeleteObject,	   PTP_OC_InitiateCapture,    PTP_OC_GetDevicePropDesc,
	PTP_OC_GetDevicePropValue, PTP_OC_SetDevicePropValue, PTP_OC_GetPartialObject,
};
static const uint16_t supported_events[] = { PTP_EC_ObjectAdded, PTP_EC_CaptureComplete };
static const uint16_t supported_props[] = { PTP_DPC_BatteryLevel, PTP_DPC_DateTime };
static const uint16_t image_formats[] = { PTP_OFC_EXIF_JPEG };

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define CARD_CAPACITY (8ull * 1024 * 1024 * 1024)

void camera_init(struct camera *cam)
{
	const char *s;
	uint32_t h = 2166136261u; /* FNV-1a of the serial */

	for (s = cam->serial; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	cam->seed = h;
	cam->next_handle = 1;
	cam->next_number = 1;
	cam->battery = 100;
	cam->objects = xmalloc(FAKECAM_MAX_OBJECTS * sizeof(*cam->objects));
	cam->nobjects = 0;
}

static void object_free(struct object *o)
{
	free(o->owned);
	o->owned = NULL;
}

void camera_free(struct camera *cam)
{
	size_t i;

	for (i = 0; i < cam->nobjects; i++)
		object_free(&cam->objects[i]);
	free(cam->objects);
	cam->objects = NULL;
	cam->nobjects = 0;
}

static struct object *find_object(struct camera *cam, uint32_t handle)
{
	size_t i;

	for (i = 0; i < cam->nobjects; i++)
		if (cam->objects[i].handle == handle)
			return &cam->objects[i];
	return NULL;
}

static void format_ptp_time(char *out, size_t outsz, time_t t)
{
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(out, outsz, "%Y%m%dT%H%M%S", &tm))
		snprintf(out, outsz, "19700101T000000");
}

static const char *current_datetime(const struct camera *cam, char *tmp, size_t tmpsz)
{
	if (cam->datetime_set)
		return cam->datetime;
	format_ptp_time(tmp, tmpsz, time(NULL));
	return tmp;
}

/* "YYYYMMDDThhmmss" optionally followed by ".s", "Z", "+hhmm" and the like:
 * printable ASCII without spaces, so that it is safe in the log file. */
static bool valid_ptp_time(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 15 || n > 40 || s[8] != 'T')
		return false;
	for (i = 0; i < 15; i++)
		if (i != 8 && (s[i] < '0' || s[i] > '9'))
			return false;
	for (i = 15; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

static void put_device_info(const struct camera *cam, struct buf *b)
{
	buf_u16(b, 100);  /* StandardVersion */
	buf_u32(b, 0);    /* VendorExtensionID: none, keeps libgphoto2 generic */
	buf_u16(b, 0);    /* VendorExtensionVersion */
	buf_ptp_string(b, "");
	buf_u16(b, 0);    /* FunctionalMode */
	buf_u16_array(b, supported_ops, N(supported_ops));
	buf_u16_array(b, supported_events, N(supported_events));
	buf_u16_array(b, supported_props, N(supported_props));
	buf_u16_array(b, image_formats, N(image_formats)); /* capture formats */
	buf_u16_array(b, image_formats, N(image_formats));
	buf_ptp_string(b, cam->manufacturer);
	buf_ptp_string(b, cam->model);
	buf_ptp_string(b, cam->version);
	buf_ptp_string(b, cam->serial);
}

static uint64_t used_bytes(const struct camera *cam)
{
	uint64_t used = 0;
	size_t i;

	for (i = 0; i < cam->nobjects; i++)
		used += cam->objects[i].size;
	return used;
}

static void put_storage_info(const struct camera *cam, struct buf *b)
{
	uint64_t used = used_bytes(cam);

	buf_u16(b, 0x0004); /* StorageType: removable RAM */
	buf_u16(b, 0x0002); /* FilesystemType: generic hierarchical */
	buf_u16(b, 0x0000); /* AccessCapability: read-write */
	buf_u64(b, CARD_CAPACITY);
	buf_u64(b, used < CARD_CAPACITY ? CARD_CAPACITY - used : 0);
	buf_u32(b, (uint32_t)(FAKECAM_MAX_OBJECTS - cam->nobjects)); /* free images */
	buf_ptp_string(b, "Emulated memory card");
	buf_ptp_string(b, "FAKECAM");
}

static void put_object_info(const struct object *o, struct buf *b)
{
	buf_u32(b, FAKECAM_STORAGE_ID);
	buf_u16(b, PTP_OFC_EXIF_JPEG);
	buf_u16(b, 0); /* ProtectionStatus */
	buf_u32(b, (uint32_t)o->size);
	buf_u16(b, 0); /* ThumbFormat: none */
	buf_u32(b, 0); /* ThumbCompressedSize */
	buf_u32(b, 0); /* ThumbPixWidth */
	buf_u32(b, 0); /* ThumbPixHeight */
	buf_u32(b, o->width);
	buf_u32(b, o->height);
	buf_u32(b, o->width ? 8 : 0); /* ImageBitDepth */
	buf_u32(b, 0); /* ParentObject: root */
	buf_u16(b, 0); /* AssociationType */
	buf_u32(b, 0); /* AssociationDesc */
	buf_u32(b, 0); /* SequenceNumber */
	buf_ptp_string(b, o->name);
	buf_ptp_string(b, o->capture_date);
	buf_ptp_string(b, o->capture_date);
	buf_ptp_string(b, "");
}

/* Append the current value of a property, typed; false if unknown. */
static bool put_prop_value(const struct camera *cam, uint16_t prop, struct buf *b)
{
	char tmp[32];

	switch (prop) {
	case PTP_DPC_BatteryLevel:
		buf_u8(b, cam->battery);
		return true;
	case PTP_DPC_DateTime:
		buf_ptp_string(b, current_datetime(cam, tmp, sizeof(tmp)));
		return true;
	default:
		return false;
	}
}

static bool put_prop_desc(const struct camera *cam, uint16_t prop, struct buf *b)
{
	switch (prop) {
	case PTP_DPC_BatteryLevel:
		buf_u16(b, prop);
		buf_u16(b, PTP_DTC_UINT8);
		buf_u8(b, 0);   /* get only */
		buf_u8(b, 100); /* factory default */
		put_prop_value(cam, prop, b);
		buf_u8(b, 1);   /* range form */
		buf_u8(b, 0);
		buf_u8(b, 100);
		buf_u8(b, 1);
		return true;
	case PTP_DPC_DateTime:
		buf_u16(b, prop);
		buf_u16(b, PTP_DTC_STR);
		buf_u8(b, 1); /* get/set */
		buf_ptp_string(b, "");
		put_prop_value(cam, prop, b);
		buf_u8(b, 0); /* no form */
		return true;
	default:
		return false;
	}
}

static uint16_t set_prop(struct camera *cam, const struct op_req *rq)
{
	char value[sizeof(cam->datetime)];
	struct rd r;

	if (rq->np < 1)
		return PTP_RC_InvalidParameter;
	if (rq->p[0] == PTP_DPC_BatteryLevel)
		return PTP_RC_AccessDenied;
	if (rq->p[0] != PTP_DPC_DateTime)
		return PTP_RC_DevicePropNotSupported;
	if (!rq->has_data || rq->data_truncated)
		return PTP_RC_InvalidDevicePropFormat;
	r = rd_init(rq->data, rq->datalen);
	rd_ptp_string(&r, value, sizeof(value));
	if (r.err)
		return PTP_RC_InvalidDevicePropFormat;
	if (!valid_ptp_time(value)) {
		fc_verbose("rejecting DateTime value (%zu bytes of data)", rq->datalen);
		return PTP_RC_InvalidDevicePropValue;
	}
	memcpy(cam->datetime, value, sizeof(cam->datetime));
	cam->datetime_set = true;
	fc_logline("setclock %s %s", cam->serial, cam->datetime);
	fc_verbose("DateTime set to %s", cam->datetime);
	return PTP_RC_OK;
}

/* Filter of GetNumObjects / GetObjectHandles: storage, format, parent. */
static uint16_t check_object_filter(const struct camera *cam, const struct op_req *rq)
{
	uint32_t storage = rq->np > 0 ? rq->p[0] : 0xFFFFFFFFu;
	uint32_t format = rq->np > 1 ? rq->p[1] : 0;
	uint32_t parent = rq->np > 2 ? rq->p[2] : 0;

	(void)cam;
	if (storage != 0xFFFFFFFFu && storage != FAKECAM_STORAGE_ID)
		return PTP_RC_InvalidStorageId;
	if (format != 0 && format != PTP_OFC_EXIF_JPEG)
		return PTP_RC_OK; /* valid filter, matches nothing: see callers */
	if (parent != 0 && parent != 0xFFFFFFFFu)
		return PTP_RC_InvalidParentObject; /* no folders here */
	return PTP_RC_OK;
}

static bool filter_matches_all(const struct op_req *rq)
{
	uint32_t format = rq->np > 1 ? rq->p[1] : 0;

	return format == 0 || format == PTP_OFC_EXIF_JPEG;
}

static void delete_at(struct camera *cam, size_t i)
{
	object_free(&cam->objects[i]);
	memmove(&cam->objects[i], &cam->objects[i + 1],
		(cam->nobjects - i - 1) * sizeof(cam->objects[0]));
	cam->nobjects--;
}

void camera_op(struct camera *cam, struct ptp_state *ps, const struct op_req *rq,
	       struct op_res *res)
{
	struct object *o;
	uint64_t off, n;
	size_t i;

	res->code = PTP_RC_OK;
	res->np = 0;

	switch (rq->code) {
	case PTP_OC_GetDeviceInfo:
		res->has_data = true;
		put_device_info(cam, &res->data);
		return;
	case PTP_OC_OpenSession:
		if (rq->np < 1 || rq->p[0] == 0) {
			res->code = PTP_RC_InvalidParameter;
		} else if (ps->open) {
			res->code = PTP_RC_SessionAlreadyOpened;
			res->p[0] = ps->session_id;
			res->np = 1;
		} else {
			ps->open = true;
			ps->session_id = rq->p[0];
		}
		return;
	default:
		break;
	}

	if (!ps->open) {
		res->code = PTP_RC_SessionNotOpen;
		return;
	}

	switch (rq->code) {
	case PTP_OC_CloseSession:
		ps->open = false;
		break;
	case PTP_OC_GetStorageIDs: {
		const uint32_t ids[] = { FAKECAM_STORAGE_ID };

		res->has_data = true;
		buf_u32_array(&res->data, ids, N(ids));
		break;
	}
	case PTP_OC_GetStorageInfo:
		if (rq->np < 1 || rq->p[0] != FAKECAM_STORAGE_ID) {
			res->code = PTP_RC_InvalidStorageId;
			break;
		}
		res->has_data = true;
		put_storage_info(cam, &res->data);
		break;
	case PTP_OC_GetNumObjects:
		res->code = check_object_filter(cam, rq);
		if (res->code == PTP_RC_OK) {
			res->p[0] = filter_matches_all(rq) ? (uint32_t)cam->nobjects : 0;
			res->np = 1;
		}
		break;
	case PTP_OC_GetObjectHandles:
		res->code = check_object_filter(cam, rq);
		if (res->code != PTP_RC_OK)
			break;
		res->has_data = true;
		n = filter_matches_all(rq) ? cam->nobjects : 0;
		buf_u32(&res->data, (uint32_t)n);
		for (i = 0; i < n; i++)
			buf_u32(&res->data, cam->objects[i].handle);
		break;
	case PTP_OC_GetObjectInfo:
	case PTP_OC_GetObject:
	case PTP_OC_GetThumb:
	case PTP_OC_GetPartialObject:
		o = rq->np >= 1 ? find_object(cam, rq->p[0]) : NULL;
		if (!o) {
			res->code = PTP_RC_InvalidObjectHandle;
			break;
		}
		if (rq->code == PTP_OC_GetThumb) {
			res->code = PTP_RC_NoThumbnailPresent;
		} else if (rq->code == PTP_OC_GetObjectInfo) {
			res->has_data = true;
			put_object_info(o, &res->data);
		} else if (rq->code == PTP_OC_GetObject) {
			res->has_data = true;
			res->ext = o->bytes;
			res->extlen = o->size;
		} else {
			off = rq->np >= 2 ? rq->p[1] : 0;
			n = rq->np >= 3 ? rq->p[2] : 0xFFFFFFFFu;
			if (off > o->size) {
				res->code = PTP_RC_InvalidParameter;
				break;
			}
			if (n > o->size - off)
				n = o->size - off;
			res->has_data = true;
			res->ext = o->bytes + off;
			res->extlen = (size_t)n;
			res->p[0] = (uint32_t)n;
			res->np = 1;
		}
		break;
	case PTP_OC_DeleteObject:
		if (rq->np < 1) {
			res->code = PTP_RC_InvalidParameter;
		} else if (rq->p[0] == 0xFFFFFFFFu) {
			while (cam->nobjects)
				delete_at(cam, cam->nobjects - 1);
			fc_verbose("deleted all objects");
		} else {
			for (i = 0; i < cam->nobjects; i++)
				if (cam->objects[i].handle == rq->p[0])
					break;
			if (i == cam->nobjects) {
				res->code = PTP_RC_InvalidObjectHandle;
				break;
			}
			fc_verbose("deleted object 0x%08x %s", rq->p[0], cam->objects[i].name);
			delete_at(cam, i);
		}
		break;
	case PTP_OC_GetDevicePropDesc:
	case PTP_OC_GetDevicePropValue:
		if (rq->np < 1) {
			res->code = PTP_RC_InvalidParameter;
			break;
		}
		res->has_data = rq->code == PTP_OC_GetDevicePropDesc
					? put_prop_desc(cam, (uint16_t)rq->p[0], &res->data)
					: put_prop_value(cam, (uint16_t)rq->p[0], &res->data);
		if (!res->has_data || rq->p[0] > 0xFFFF) {
			res->has_data = false;
			res->code = PTP_RC_DevicePropNotSupported;
		}
		break;
	case PTP_OC_SetDevicePropValue:
		res->code = set_prop(cam, rq);
		break;
	default:
		res->code = PTP_RC_OperationNotSupported;
		break;
	}
}

uint16_t camera_capture_check(const struct camera *cam, const struct ptp_state *ps,
			      const struct op_req *rq)
{
	uint32_t storage = rq->np > 0 ? rq->p[0] : 0;
	uint32_t format = rq->np > 1 ? rq->p[1] : 0;

	if (!ps->open)
		return PTP_RC_SessionNotOpen;
	if (storage != 0 && storage != FAKECAM_STORAGE_ID)
		return PTP_RC_InvalidStorageId;
	if (format != 0 && format != PTP_OFC_EXIF_JPEG)
		return PTP_RC_InvalidObjectFormatCode;
	if (cam->nobjects >= FAKECAM_MAX_OBJECTS)
		return PTP_RC_StoreFull;
	return PTP_RC_OK;
}

uint32_t camera_capture(struct camera *cam, const struct timespec *when)
{
	struct object *o = &cam->objects[cam->nobjects];
	struct buf jpg = { 0 };
	char comment[256];

	memset(o, 0, sizeof(*o));
	o->handle = cam->next_handle++;
	if (cam->next_handle == 0 || cam->next_handle == 0xFFFFFFFFu)
		cam->next_handle = 1;
	snprintf(o->name, sizeof(o->name), "IMG_%04u.JPG", cam->next_number);
	cam->next_number = cam->next_number >= 9999 ? 1 : cam->next_number + 1;
	format_ptp_time(o->capture_date, sizeof(o->capture_date), when->tv_sec);

	if (cam->image) {
		o->bytes = cam->image;
		o->size = cam->image_size;
	} else {
		snprintf(comment, sizeof(comment),
			 "shotsync-fakecam serial=%s file=%s handle=%u trigger=%lld.%09ld",
			 cam->serial, o->name, o->handle, (long long)when->tv_sec,
			 (long)when->tv_nsec);
		jpeg_make(&jpg, cam->width, cam->height, cam->seed, o->handle, comment);
		o->owned = jpg.data;
		o->bytes = jpg.data;
		o->size = jpg.len;
		o->width = (cam->width + 7) / 8 * 8;
		o->height = (cam->height + 7) / 8 * 8;
	}
	cam->nobjects++;
	fc_verbose("new object 0x%08x %s (%zu bytes)", o->handle, o->name, o->size);
	return o->handle;
}
