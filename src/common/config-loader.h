/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Reading configuration files: the main file and its drop-ins become a set
 * of settings (group, key, value, and where it was written), checked
 * against the keys that exist. config.c then turns settings into a Config. */

#include <glib.h>
#include <stdarg.h>

#include "util.h"

/* A configuration is a few hundred bytes; anything this big is a mistake
 * (a log or an image given as --config), not something to slurp. */
#define CONFIG_FILE_MAX ((size_t) 4 * 1024 * 1024)

/* Values are quoted in messages; a runaway line must not make them unreadable. */
#define MESSAGE_VALUE_MAX 60

typedef enum GroupType {
        GROUP_WATCH,
        GROUP_GROUPING,
        GROUP_OUTPUT,
        GROUP_TRIGGER,
        GROUP_CAMERA,
        _GROUP_TYPE_MAX,
        GROUP_UNKNOWN = -1,
} GroupType;

/* One key as the files leave it: the last file that sets it wins. */
typedef struct Setting {
        const char *file; /* owned by Loader.files */
        unsigned line;
        char *group;
        char *key;
        char *value; /* unescaped by GKeyFile, stripped */
} Setting;

typedef struct Loader {
        const char *main_path;
        GPtrArray *files;      /* char*: names of the files read, in order */
        GHashTable *settings;  /* "group\nkey" → Setting* */
        GPtrArray *cameras;    /* char*: [Camera NAME] names in order of first appearance */
        char *error;
} Loader;

char *config_quote(const char *s, size_t max_chars);
Loader loader_make(const char *main_path);
void loader_done(Loader *l);
_printf_(3, 4) int loader_fail_errno(Loader *l, int r, const char *fmt, ...);
_printf_(3, 4) int loader_fail_setting(Loader *l, const Setting *s, const char *fmt, ...);
const char *config_camera_name_problem(const char *name);
const Setting *loader_get(Loader *l, const char *group, const char *key);
int loader_add(Loader *l, const char *name, const char *data, size_t len);
int config_read_file(const char *path, char **ret, size_t *ret_len);
int loader_list_dropins(Loader *l, const char *const *dirs, GPtrArray *ret);

#define loader_fail(l, ...) loader_fail_errno(l, -EINVAL, __VA_ARGS__)
