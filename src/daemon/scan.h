/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One walk of the raw tree, shared by start-up, rescans and --once: every
 * regular file (lstat, never following symlinks) under RawRoot/<camera>/...,
 * skipping hidden and temporary names of files and folders, sorted by mtime
 * (then path) so that shots found at start-up are numbered in the order of
 * their triggers (SPEC §2 rule 13). Blocking: run it in the disk worker. */

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct ScanEntry {
        char *path; /* relative to the root, "Camera/sub/name" */
        nsec_t mtime;
        uint64_t size;
} ScanEntry;

typedef struct ScanResult {
        ScanEntry *entries;
        size_t n_entries;
        size_t n_dirs;
        size_t n_errors; /* folders or files that could not be read (logged by the caller) */
        char **errors;   /* "path: strerror" for the first few, NULL-terminated */
        bool root_missing;
} ScanResult;

/* max_depth bounds how deep below the camera folder the walk goes (loops
 * are impossible without symlinks, but a hostile tree can be deep). */
int scan_tree(const char *root, unsigned max_depth, ScanResult **ret);
ScanResult *scan_result_free(ScanResult *r);
