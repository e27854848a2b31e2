/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Logging: to the journal with structured fields when stderr is connected to
 * it (systemd sets JOURNAL_STREAM), to stderr otherwise. One line per
 * decision a user would want to audit; SHOT_ID=, CAMERA= and RAW_PATH= make
 * `journalctl SHOT_ID=20261123-004` show a shot's whole story. */

#include <stdarg.h>
#include <syslog.h>

#include "util.h"

void log_setup(void);
void log_set_max_level(int level);
int log_get_max_level(void);
int log_level_from_string(const char *s);

/* Any of shot_id, camera, raw_path may be NULL. raw_path is escaped for
 * display when it is not valid UTF-8. Returns -abs(error), or 0. */
int log_fields(int level, int error, const char *shot_id, const char *camera, const char *raw_path,
               const char *fmt, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) log_fields(level, error, NULL, NULL, NULL, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
