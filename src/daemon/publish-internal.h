/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What publish.c and publish-stage.c share: the file work both steps of
 * publishing are made of. Only the disk and staging threads run it. */

#include <sys/stat.h>

#include "publish.h"

#define CLEAN_DIR_MODE 0755
#define CLEAN_FILE_MODE 0644

typedef struct TmpFile {
        int dir_fd; /* borrowed */
        int fd;
        char name[32];
} TmpFile;

#define TMPFILE_NULL { .dir_fd = -1, .fd = -1 }

int clean_errno(void);
void tmpfile_done(TmpFile *t);
int tmpfile_create(int dir_fd, TmpFile *t);
/* src opened read-only, never through a symlink, a regular file. */
int open_src(const char *src, struct stat *ret_st);
int write_all_at(int fd, const void *data, size_t len, off_t off);
/* Copies (clones) src_fd into tmp_fd, again while src changes under it.
 * With ret_unsettled, the first try does not wait for the tick of src's
 * last change to pass; *ret_unsettled then says whether verify_settled()
 * must vouch for the copy. */
int stage_copy(const char *src, int src_fd, int tmp_fd, bool reflink, bool *ret_fell_back, struct stat *ret_st,
               bool *ret_unsettled);
/* Once the tick of src's last change has passed, src still looks as when
 * copied and holds the copy's bytes; -EAGAIN when not. */
int verify_settled(int src_fd, int copy_fd, const struct stat *copied);
/* The hash of what fd holds, checked like a copy. */
int hash_stable(const char *src, int fd, PublishResult *res);
int mkdir_below(int dir_fd, const char *rel, int *ret_fd);
int open_clean_root(const char *clean_root);
int open_staging(int root_fd);
bool same_fs(int a, int b);
/* path relative to clean_root, or NULL when it is not strictly below it. */
const char *path_below(const char *clean_root, const char *path);
char *split_rel(const char *rel, const char **ret_name);
int rename_noreplace(int from_dir, const char *from, int to_dir, const char *to);
int same_content(int dir_fd, const char *name, uint64_t size, const char *sha256);

/* Where a clean file goes: dst's folder (made when missing, below the clean
 * root only) and its name. */
typedef struct CleanTarget {
        int root_fd, dir_fd;
        char *dir;        /* relative to the clean root */
        const char *name; /* in dir (points into dst) */
} CleanTarget;
#define CLEAN_TARGET_NULL { .root_fd = -1, .dir_fd = -1 }
int clean_target_open(const char *clean_root, const char *dst, CleanTarget *ret);
void clean_target_done(CleanTarget *t);
/* The arguments of publish_file() and publish_stage() checked, src opened
 * (refused or gone: before any folder is made for it), then dst's target. */
int publish_open(const char *clean_root, PublishMode mode, const char *src, const char *dst, int *ret_src_fd,
                 struct stat *ret_st, CleanTarget *ret_target);
