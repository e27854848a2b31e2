/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* shotsyncctl, the client of shotsyncd (SPEC §6): what its parts share. */

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "json-util.h"
#include "util.h"

#define BUS_NAME "org.shotsync.Shotsync1"
#define BUS_PATH "/org/shotsync/Shotsync1"
#define BUS_INTERFACE "org.shotsync.Shotsync1"
#define BUS_ERROR_PREFIX "org.shotsync.Shotsync1.Error."

/* Exit statuses scripts can rely on; documented in --help. */
enum {
        CTL_EXIT_OK = 0,
        CTL_EXIT_FAILURE = 1,
        CTL_EXIT_USAGE = 2,
        CTL_EXIT_NOT_RUNNING = 3,
        CTL_EXIT_ACCESS_DENIED = 4,
        CTL_EXIT_NO_SUCH_SHOT = 5,
        CTL_EXIT_SHOT_EXISTS = 6,
        CTL_EXIT_NO_CAMERAS = 7,
        CTL_EXIT_BUSY = 8,
        CTL_EXIT_INVALID_CONFIG = 9,
        CTL_EXIT_TOO_LATE = 10,
};

/* Where a shotsyncd is reached, as systemd's tools reach a bus. */
typedef enum TargetKind {
        TARGET_SYSTEM,  /* the local system bus */
        TARGET_USER,    /* the session bus */
        TARGET_ADDRESS, /* --address=ADDRESS */
        TARGET_HOST,    /* -H [USER@]HOST[:PORT][/MACHINE]: a system bus over ssh */
        TARGET_MACHINE, /* -M [USER@]NAME: the system bus of a local container */
} TargetKind;

typedef struct Target {
        TargetKind kind;
        const char *arg; /* as typed, for an address, host or machine */
} Target;

typedef enum JsonMode {
        JSON_OFF,
        JSON_SHORT,  /* one line per document */
        JSON_PRETTY, /* indented */
} JsonMode;

/* The parsed command line: the only global state of the program. */
extern JsonMode arg_json;
extern bool arg_legend;
extern bool arg_open_only;
extern GArray *arg_targets; /* Target, in the order given; empty: the system bus */
extern const char *arg_at;  /* fire --at=, or NULL */

/* ---- talking to shotsyncd (shotsyncctl.c) ---- */

/* The target of a verb that talks to one shotsyncd: the one named, or the
 * system bus. */
const Target *ctl_target(void);

/* What names a target in tables: what was typed (the host, machine or
 * address), "localhost" or "user bus". */
const char *ctl_target_name(const Target *t);

/* "the system bus", "the session bus", "the bus at ADDRESS", "the system
 * bus of host HOST" or "… of machine NAME", newly allocated. */
char *ctl_target_description(const Target *t);

/* ctl_target_description() of ctl_target(). */
char *ctl_bus_description(void);

/* Opens the target's bus, negative errno on failure. */
int ctl_open(const Target *t, sd_bus **ret);

/* The sentence for a target that could not be opened (newly allocated)
 * and its exit status. */
int ctl_open_failed(const Target *t, int r, char **ret_sentence);

/* Connects to ctl_target(). On failure prints a sentence and returns the
 * exit status (> 0); 0 on success. */
int ctl_connect(sd_bus **ret);

/* The sentence for a failed call (newly allocated) and its exit status;
 * `where` names the bus. */
int ctl_error_sentence(const sd_bus_error *error, int r, const char *action, const char *shot_id, const char *where,
                       char **ret_sentence);

/* Prints the sentence for a failed call and returns its exit status. */
int ctl_call_failed(const sd_bus_error *error, int r, const char *action, const char *shot_id);

/* Calls a method of the interface. On failure prints a sentence to stderr
 * and returns the exit status (> 0); 0 with *ret_reply set on success.
 * 'action' completes "only root and members of group shotsync may …";
 * 'shot_id' names the shot in a NoSuchShot/ShotExists sentence (may be
 * NULL). 'timeout' is in µs, 0 for sd-bus's default. */
int ctl_call(sd_bus *bus, sd_bus_message *call, uint64_t timeout, const char *action, const char *shot_id,
             sd_bus_message **ret_reply);

/* A new method call on shotsyncd's object and interface, or a negative errno. */
int ctl_new_call(sd_bus *bus, const char *member, sd_bus_message **ret);

/* Every property of the interface as one JSON object. On failure prints a
 * sentence and returns the exit status (> 0); 0 with *ret set on success.
 * 'action' as for ctl_call(). */
int ctl_get_properties(sd_bus *bus, const char *action, JsonNode **ret);

/* Prints "Unexpected reply from shotsyncd …" for a reply that cannot be
 * read; returns CTL_EXIT_FAILURE. */
int ctl_bad_reply(const char *what, int error);

/* Validation of arguments before anything is sent. */
bool ctl_shot_id_valid(const char *id);
/* "today"/""/NULL → "", "yesterday" → its date, a valid YYYYMMDD → itself.
 * Returns NULL for anything else. The result is newly allocated. */
char *ctl_date_arg(const char *s);

/* ---- the verbs ---- */

/* Each checks its arguments, connects, and returns the exit status; argv[0]
 * is the verb. */
int verb_status(int argc, char **argv);
int verb_cameras(int argc, char **argv);
int verb_fire(int argc, char **argv);
int verb_fire_at(int argc, char **argv); /* fire-at.c: fire --at= on every target */
int verb_simple(int argc, char **argv); /* pause, resume, reload */
int verb_shots(int argc, char **argv);  /* shotsyncctl-shot.c */
int verb_show(int argc, char **argv);
int verb_meta(int argc, char **argv);
int verb_next_shot(int argc, char **argv);
int verb_monitor(int argc, char **argv); /* shotsyncctl-monitor.c */
int verb_clocks(int argc, char **argv);  /* clocks.c */

/* ---- output (shotsyncctl-output.c) ---- */

/* Reads the next complete value of a message (any D-Bus type) as JSON:
 * dictionaries with string keys become objects, other arrays and structs
 * arrays, variants their content, integers numbers (64-bit unsigned values
 * above INT64_MAX are clamped), file descriptors null. Negative errno on a
 * malformed message. */
int bus_message_read_json(sd_bus_message *m, JsonNode **ret);

/* Strings of an array joined with sep; "-" when empty or absent. */
char *json_join_strings(JsonArray *a, const char *sep);

/* Prints a JSON document on stdout in the --json mode (one line, or indented),
 * and flushes. Returns 0 or a negative errno when stdout fails. */
int json_print(JsonNode *node, JsonMode mode);

/* Human times from µs since the epoch, in local time. */
#define CTL_TIME_MAX 64
char *format_time_full(uint64_t usec, char buf[static CTL_TIME_MAX]); /* ISO 8601 with offset */
char *ctl_time_of_day(uint64_t usec, char buf[static CTL_TIME_MAX]); /* HH:MM:SS.mmm */

/* A right-aligned "Key: value" line as in hostnamectl. */
void print_field(int width, const char *key, const char *fmt, ...) _printf_(3, 4);

/* A table with a header line; the last column is never padded. */
typedef struct Table Table;
Table *table_new(const char *first_header, ...) G_GNUC_NULL_TERMINATED;
void table_align_right(Table *t, unsigned column);
/* Exactly as many cells as columns; NULL or "" cells print as "-". */
void table_add_row(Table *t, ...);
size_t table_rows(const Table *t);
void table_print(Table *t, FILE *f);
Table *table_free(Table *t);
static inline void table_freep(Table **t) {
        table_free(*t);
}
