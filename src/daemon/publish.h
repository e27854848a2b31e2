/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Publishing files into the clean tree (SPEC §3): blocking file system
 * work, called only from the disk worker thread, never from the event loop.
 *
 * Nothing ever appears under a final name half-written: data goes to a
 * staging file in CleanRoot/.staging/, is fsync()ed, then renamed into place
 * with RENAME_NOREPLACE and the folder fsync()ed. An existing clean file is
 * never overwritten with different content. Raw files are only ever opened
 * read-only (O_NOFOLLOW; hardlink mode links them). */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "manifest.h"

#define STAGING_DIR ".staging"

typedef struct PublishResult {
        uint64_t size;
        char sha256[65];
        bool existed;     /* an identical file was already there (a republish after a crash) */
        bool fell_back;   /* reflink or hardlink not possible here: copied instead */
} PublishResult;

/* Publishes src (absolute raw path) as dst (absolute, under clean_root),
 * creating missing folders. The sha256 and size describe the bytes that now
 * sit under dst. If src changes while being copied (size, mtime or ctime
 * differ before and after) the copy is retried a few times, then -EAGAIN.
 * Returns 0, or -EEXIST when a different file already has the name, or
 * another negative errno (-ENOENT: src vanished, -ENOSPC, -EROFS, ...). */
int publish_file(const char *clean_root, PublishMode mode, const char *src, const char *dst, PublishResult *ret);

/* Publishing in two steps, so that the copy, the hash and the file's fsync
 * happen when a file joins its shot (it is final bytes then: closed or
 * renamed), and closing the shot costs renames and folder fsyncs only:
 *   publish_stage()   copies (clones) src into the staging folder (beside
 *                     dst's folder when that is on another file system),
 *                     fsync()ed and hashed; in hardlink mode hashes src and
 *                     notes its identity, nothing is written;
 *   publish_finish()  puts it under dst (no replace; identical content
 *                     there counts as done), without fsync()ing dst's
 *                     folder: the caller does, once per folder
 *                     (publish_sync_dir());
 *   staged_file_discard()   drops a staged copy that will not be used. */
typedef struct StagedFile {
        char *tmp;         /* relative to CleanRoot: the staged copy; NULL in hardlink mode */
        bool link;         /* hardlink mode: src is linked at finish */
        dev_t dev;         /* hardlink: the raw file as hashed */
        ino_t ino;
        int64_t size, mtime_ns, ctime_ns;
        PublishResult result;
} StagedFile;

int publish_stage(const char *clean_root, PublishMode mode, const char *src, const char *dst, StagedFile *ret);
int publish_finish(const char *clean_root, const char *src, const char *dst, const StagedFile *sf,
                   PublishResult *ret);
/* The staged copy's data on disk: publish_stage() leaves the fsync for
 * later, so that many files written first are synced together. */
int publish_stage_sync(const char *clean_root, const StagedFile *sf);
int publish_sync_dir(const char *clean_root, const char *dir);
/* The same two steps for a file of the service's own (a manifest): data
 * staged (not yet synced), then renamed over path. */
int publish_stage_data(const char *clean_root, const char *path, const void *data, size_t len, StagedFile *ret);
int publish_finish_replace(const char *clean_root, const char *path, const StagedFile *sf);
void staged_file_discard(const char *clean_root, StagedFile *sf);
void staged_file_clear(StagedFile *sf);

/* Writes data as path atomically (staging, fsync, rename over any previous
 * version, fsync of the folder), creating missing folders. */
int publish_replace(const char *clean_root, const char *path, const void *data, size_t len);
/* The same; sync_dir false leaves the folder's fsync to the caller. */
int publish_replace_with(const char *clean_root, const char *path, const void *data, size_t len, bool sync_dir);

/* Removes what a crash left in CleanRoot/.staging/ (and creates it). */
int publish_prepare(const char *clean_root);

/* SHA-256 of a file's content (GChecksum), and its size. */
int file_sha256(int fd, char ret[static 65], uint64_t *ret_size);

/* Clean paths (SPEC §3), pure:
 *   <clean_root>/<Camera>/<YYYYMMDD>/<Camera>_<YYYYMMDD>_<HHMMSS>_shot<NNN>[_<k>]<.ext>
 *   <clean_root>/shots/<YYYYMMDD>/shot<NNN>.json
 * HHMMSS is mtime in local time; ext is lower case with its dot or "";
 * suffix_kind is the 1-based kind for "_<k>", or 0 for none. */
char *clean_file_path(const char *clean_root, const char *camera, uint32_t date, uint32_t number, nsec_t mtime,
                      unsigned suffix_kind, const char *ext);
char *manifest_path(const char *clean_root, uint32_t date, uint32_t number);
