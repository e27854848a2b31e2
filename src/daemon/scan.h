/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One walk of the raw tree, shared by start-up, rescans and --once: every
 * regular file (lstat, never following symlinks) under RawRoot/<camera>/...,
 * skipping hidden and temporary names of files and folders, sorted by mtime
 * (then path) so that shots found at start-up are numbered in the order of
 * their triggers (SPEC §2 rule 13). Blocking: run it in the disk worker.
 *
 * With a horizon (SPEC §2 rule 16) its cost follows what is recent, not the
 * years of history below the root: files older than the horizon are
 * counted, not listed, and a folder unchanged since before the horizon
 * (its mtime: no file added, removed or renamed there since) has its files
 * passed over unread; on file systems that count a folder's sub-folders in
 * its link count (ext4, xfs: 2 means none) such a folder is not even read.
 * A file rewritten in place in such a folder, or a folder of new files
 * renamed in with an old mtime, is inotify's to see while the service
 * runs, not the scan's. */

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct ScanEntry {
        char *path; /* relative to the root, "Camera/sub/name" */
        nsec_t mtime;
        uint64_t size;
} ScanEntry;

typedef struct ScanOptions {
        unsigned max_depth; /* how deep below the camera folder (a hostile tree can be deep) */
        nsec_t horizon;     /* files older are history; INT64_MIN: every file */
        nsec_t until;       /* files newer are left out too; INT64_MAX: none */
} ScanOptions;

typedef struct ScanResult {
        ScanEntry *entries;
        size_t n_entries;
        size_t n_dirs;
        size_t n_dirs_passed; /* folders unchanged since before the horizon: files not read */
        size_t n_history;     /* files read and found older than the horizon (or newer than until) */
        size_t n_errors; /* folders or files that could not be read (logged by the caller) */
        char **errors;   /* "path: strerror" for the first few, NULL-terminated */
        bool root_missing;
        /* After scan_memory_diff(): */
        char **gone;     /* listed last time, within the horizon, not now; NULL-terminated */
        size_t n_gone;
} ScanResult;

/* What the last scan listed, kept on the scanning thread so that a
 * periodic scan hands the event loop only what changed: its cost on the
 * loop follows change, not the number of recent files. */
typedef struct ScanMemory ScanMemory;
ScanMemory *scan_memory_new(void);
ScanMemory *scan_memory_free(ScanMemory *mem);
/* Keeps in r only the entries new since the last scan or with another mtime
 * or size (all of them when full), and sets r->gone; then remembers r's
 * listing. Files older than horizon fall out of memory, not into gone. */
void scan_memory_diff(ScanMemory *mem, ScanResult *r, nsec_t horizon, bool full);

/* max_depth bounds how deep below the camera folder the walk goes (loops
 * are impossible without symlinks, but a hostile tree can be deep). */
int scan_tree(const char *root, unsigned max_depth, ScanResult **ret);
int scan_tree_with(const char *root, const ScanOptions *o, ScanResult **ret);
ScanResult *scan_result_free(ScanResult *r);
