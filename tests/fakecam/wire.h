/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shotsync-fakecam: little-endian buffer helpers and PTP / PTP/IP constants.
 *
 * Everything that goes over the wire is built with struct buf (append only,
 * aborts on out-of-memory: this is a test tool) and everything that comes in
 * is parsed with struct rd, which never reads past its end: a short or
 * malformed packet only sets rd.err.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PTP/IP packet types */
enum {
	PTPIP_INIT_CMD_REQ = 1,
	PTPIP_INIT_CMD_ACK = 2,
	PTPIP_INIT_EVT_REQ = 3,
	PTPIP_INIT_EVT_ACK = 4,
	PTPIP_INIT_FAIL = 5,
	PTPIP_OP_REQ = 6,
	PTPIP_OP_RESP = 7,
	PTPIP_EVENT = 8,
	PTPIP_START_DATA = 9,
	PTPIP_DATA = 10,
	PTPIP_CANCEL = 11,
	PTPIP_END_DATA = 12,
	PTPIP_PING = 13,
	PTPIP_PONG = 14,
};

#define PTPIP_HDR_LEN 8u

/* PTP operation codes */
enum {
	PTP_OC_GetDeviceInfo = 0x1001,
	PTP_OC_OpenSession = 0x1002,
	PTP_OC_CloseSession = 0x1003,
	PTP_OC_GetStorageIDs = 0x1004,
	PTP_OC_GetStorageInfo = 0x1005,
	PTP_OC_GetNumObjects = 0x1006,
	PTP_OC_GetObjectHandles = 0x1007,
	PTP_OC_GetObjectInfo = 0x1008,
	PTP_OC_GetObject = 0x1009,
	PTP_OC_GetThumb = 0x100A,
	PTP_OC_DeleteObject = 0x100B,
	PTP_OC_InitiateCapture = 0x100E,
	PTP_OC_GetDevicePropDesc = 0x1014,
	PTP_OC_GetDevicePropValue = 0x1015,
	PTP_OC_SetDevicePropValue = 0x1016,
	PTP_OC_GetPartialObject = 0x101B,
};

/* PTP response codes */
enum {
	PTP_RC_OK = 0x2001,
	PTP_RC_GeneralError = 0x2002,
	PTP_RC_SessionNotOpen = 0x2003,
	PTP_RC_OperationNotSupported = 0x2005,
	PTP_RC_InvalidStorageId = 0x2008,
	PTP_RC_InvalidObjectHandle = 0x2009,
	PTP_RC_DevicePropNotSupported = 0x200A,
	PTP_RC_InvalidObjectFormatCode = 0x200B,
	PTP_RC_StoreFull = 0x200C,
	PTP_RC_AccessDenied = 0x200F,
	PTP_RC_NoThumbnailPresent = 0x2010,
	PTP_RC_DeviceBusy = 0x2019,
	PTP_RC_InvalidParentObject = 0x201A,
	PTP_RC_InvalidDevicePropFormat = 0x201B,
	PTP_RC_InvalidDevicePropValue = 0x201C,
	PTP_RC_InvalidParameter = 0x201D,
	PTP_RC_SessionAlreadyOpened = 0x201E,
};

/* PTP event codes */
enum {
	PTP_EC_ObjectAdded = 0x4002,
	PTP_EC_CaptureComplete = 0x400D,
};

/* device properties, data types, object formats */
enum {
	PTP_DPC_BatteryLevel = 0x5001,
	PTP_DPC_DateTime = 0x5011,
	PTP_DTC_UINT8 = 0x0002,
	PTP_DTC_STR = 0xFFFF,
	PTP_OFC_EXIF_JPEG = 0x3801,
};

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void *xmalloc(size_t n);
char *xstrdup(const char *s);

void buf_free(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_put(struct buf *b, const void *p, size_t n);
void buf_u8(struct buf *b, uint8_t v);
void buf_u16(struct buf *b, uint16_t v);
void buf_u32(struct buf *b, uint32_t v);
void buf_u64(struct buf *b, uint64_t v);
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* PTP string: UTF-8 in, count byte + UCS-2LE with terminating NUL out. */
void buf_ptp_string(struct buf *b, const char *utf8);
void buf_u16_array(struct buf *b, const uint16_t *v, size_t n);
void buf_u32_array(struct buf *b, const uint32_t *v, size_t n);

/* Start a PTP/IP packet (length patched by pkt_end); returns its offset. */
size_t pkt_begin(struct buf *b, uint32_t type);
void pkt_end(struct buf *b, size_t start);

uint16_t le16(const uint8_t *p);
uint32_t le32(const uint8_t *p);
uint64_t le64(const uint8_t *p);

struct rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool err;
};

static inline struct rd rd_init(const uint8_t *p, size_t len)
{
	return (struct rd){ .p = p, .len = len, .off = 0, .err = false };
}

uint8_t rd_u8(struct rd *r);
uint16_t rd_u16(struct rd *r);
uint32_t rd_u32(struct rd *r);
uint64_t rd_u64(struct rd *r);
/* Parse a PTP string into UTF-8 (out always NUL-terminated, truncated to
 * outsz); sets r->err on a truncated string. */
void rd_ptp_string(struct rd *r, char *out, size_t outsz);
/* Decode a NUL-terminated UCS-2LE string (the PTP/IP friendly name) from the
 * rest of r; returns false (and sets r->err) if no NUL unit is found. */
bool rd_ucs2z(struct rd *r, char *out, size_t outsz);
