/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The configuration (SPEC §5): GKeyFile text in, a validated plain struct
 * out. Nothing else in shotsync reads the files; a bad file is refused as a
 * whole with one message naming the file, the line or key, and the problem. */

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

typedef enum PublishMode {
        PUBLISH_COPY,
        PUBLISH_HARDLINK,
        PUBLISH_REFLINK,
        _PUBLISH_MODE_MAX,
} PublishMode;

/* One kind of file a camera writes per shot: alternatives of Files= joined
 * by '|', e.g. "*.tif|*.tiff". Patterns are fnmatch(3) globs matched
 * case-insensitively against the file's base name. */
typedef struct FileKind {
        char **patterns; /* NULL-terminated */
        char *id;        /* the kind across reloads: its patterns folded, sorted, joined by '|' */
} FileKind;

typedef struct CameraConfig {
        char *name;            /* the camera folder's name under RawRoot */
        bool trigger;
        bool expected;
        char *trigger_keyword; /* "" makes every eligible file a trigger */
        FileKind *kinds;
        size_t n_kinds;
        bool clock_offset_set;   /* [Camera NAME] ClockOffsetSec= was given */
        double clock_offset_sec; /* its PC's clock minus the reference's, seconds, |x| <= 86400 */
} CameraConfig;

typedef struct Config {
        char *path;      /* the main file (may not exist: drop-ins and defaults only) */
        char **dropins;  /* drop-ins read, in order, NULL-terminated */

        /* [Watch] */
        char *raw_root;             /* absolute, normalised (no trailing '/'), default /srv/shotsync/raw */
        char *trigger_keyword;      /* default "shot" */
        FileKind *kinds;            /* default Files=, "*.tif|*.tiff" */
        size_t n_kinds;
        char **ignore_keywords;     /* default test;align, NULL-terminated, may be empty */
        char **trigger_cameras;     /* [Watch] TriggerCameras=, NULL-terminated */
        double rescan_interval_sec; /* [Watch] RescanIntervalSec=, default 60, 0 disables */
        double max_age_sec;         /* [Watch] MaxAgeSec=: older files are history (rule 16), default 2 days */

        /* [Grouping] */
        double full_window_sec;  /* W, > 0, default 10 */
        double timeout_sec;      /* T, > W/2, default 60 */
        double late_grace_sec;   /* >= 0, default 600 */
        double orphan_keep_sec;  /* [Grouping] OrphanKeepSec=, > 0, default 86400 */
        bool learn_clock_offsets;     /* [Grouping] LearnClockOffsets=, default true */
        double min_shot_interval_sec; /* [Grouping] MinShotIntervalSec=, >= 0, default W/2 */

        /* [Output] */
        char *clean_root; /* absolute, normalised, not inside raw_root nor containing it,
                           * default /srv/shotsync/clean */
        PublishMode mode; /* default copy */

        /* [Camera NAME] groups in the order they appear; n_cameras == 0 means
         * "every folder of RawRoot is a camera with the [Watch] defaults". */
        CameraConfig *cameras;
        size_t n_cameras;

        /* [Trigger] */
        char **ports;              /* NULL-terminated; empty: no gphoto2 cameras */
        bool ports_auto;           /* Ports=auto */
        bool set_clock;            /* default true */
        bool download;             /* default false */
        char *download_root;       /* default raw_root */
        double capture_timeout_sec; /* > 0, default 10 */
} Config;

/* With path NULL, as the service runs (SPEC §5): the main file
 * /etc/shotsync/shotsync.conf when it exists, then the drop-ins "<name>.conf" of
 * /usr/lib/shotsync/shotsync.conf.d, /run/shotsync/shotsync.conf.d and
 * /etc/shotsync/shotsync.conf.d merged by file name (a name in /etc
 * overrides the same name in /run, which overrides /usr/lib; a symlink to
 * /dev/null masks it) and read in lexical order of the names. Nothing at
 * all to read is fine: every key has a default. With a path (--config),
 * that file and the drop-ins "<path>.d/<name>.conf" only, and one of them must
 * exist. Later files override earlier keys one by one. On error returns
 * negative errno and a human sentence in *ret_error, e.g.
 * "/etc/shotsync/shotsync.conf:12: [Grouping] TimeoutSec=abc: not a number". */
int config_load(const char *path, Config **ret, char **ret_error);
/* The same with the places given: main_path (which may be missing when
 * main_optional, or when there are drop-ins), then the drop-in folders
 * dropin_dirs (NULL-terminated, highest priority first) merged as above. */
int config_load_files(const char *main_path, bool main_optional, const char *const *dropin_dirs, Config **ret,
                      char **ret_error);
/* Same, from text (tests, fuzzing): name is used in messages. */
int config_load_from_data(const char *name, const char *data, size_t len, Config **ret, char **ret_error);
Config *config_free(Config *c);
static inline void config_freep(Config **c) {
        config_free(*c);
}
#define _cleanup_config_ _cleanup_(config_freep)

/* The camera a folder name is, per the configuration: a configured
 * [Camera NAME] group; or, when no group exists, a camera made from the
 * [Watch] defaults (owned by the Config, created on first use, trigger when
 * named in TriggerCameras=). NULL when groups exist and none is named so, or
 * when the name is not a valid camera folder (hidden, temporary). */
const CameraConfig *config_camera(Config *c, const char *folder);
/* The camera of the folder a gphoto2 camera of the service downloads into
 * (its id under DownloadRoot): its [Camera ID] group if there is one,
 * otherwise one kind matching every file, whatever the image's extension,
 * expected when no group exists at all (like any folder then). */
const CameraConfig *config_download_camera(Config *c, const char *folder);

const char *publish_mode_to_string(PublishMode m);
int publish_mode_from_string(const char *s, PublishMode *ret);

/* SPEC §3: where two kinds of one camera share an extension, the later
 * kind's clean name gets "_<k>" (1-based) before the extension. True when
 * kind (0-based) of cam must carry it for a file with extension ext
 * (".tiff", lower case): some earlier kind has a pattern that can produce
 * the same extension (a pattern whose extension is a wildcard counts as
 * sharing every extension). */
bool config_kind_needs_suffix(const CameraConfig *cam, size_t kind, const char *ext);
/* The same for a camera's kinds given by their ids (FileKind.id), as a shot
 * that opened under another configuration knows them. */
bool config_kind_ids_need_suffix(const char *const *ids, size_t kind, const char *ext);
/* cam's kind ids in Files= order: an array of n_kinds borrowed strings, to
 * g_free(). */
const char **config_camera_kind_ids(const CameraConfig *cam);

/* Rule 14's reference camera, whose clock shots are timed on: the first
 * [Camera NAME] group with Trigger=true, or without groups the first of
 * [Watch] TriggerCameras=. NULL when there is no trigger camera (shots are
 * then fired, on the host's clock). */
const char *config_reference_camera(const Config *c);
