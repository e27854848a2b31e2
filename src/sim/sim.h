/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* shotsync-sim: plays a scenario (cameras, clocks, cloud sync, failures)
 * into a raw root the way a sync client writes files.
 *
 * Three parts, each testable without the others:
 *   sim-scenario.c  GKeyFile text → validated SimScenario; name templates
 *   sim-timeline.c  SimScenario + start + speed → every file with its name,
 *                   mtime and delivery instant, in delivery order
 *   sim-expect.c    a timeline → what shotsyncd will decide, computed by
 *                   feeding the core's grouping engine offline
 * shotsync-sim.c only parses options, prints and writes files.
 *
 * Two clocks: campaign time (nsec_t, CLOCK_REALTIME nanoseconds) is what
 * mtimes and scenario durations are in; playback time (usec_t, microseconds
 * since the playback started) is when files are delivered. Playback time is
 * campaign time divided by the speed. */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "util.h"

/* Errors of the simulator's parts: messages are for users as they are. */
#define SIM_ERROR (sim_error_quark())
GQuark sim_error_quark(void);

/* Rounds to the nearest integer, halves away from zero (llround() without
 * libm; values stay far from the int64 range). */
static inline int64_t sim_round(double x) {
        return (int64_t) (x < 0 ? x - 0.5 : x + 0.5);
}

/* ---- scenario ---- */

typedef enum SimFailure {
        SIM_FAIL_NEVER,       /* writes nothing for that shot */
        SIM_FAIL_WRITE_LATE,  /* writes that many seconds late: mtime and delivery shift */
        SIM_FAIL_SYNC_LATE,   /* the sync client delivers that many seconds later; mtime is right */
        SIM_FAIL_AFTER_CLOSE, /* delivered that many seconds after the shot's timeout */
        SIM_FAIL_DUPLICATE,   /* an extra acquisition that many seconds after the real one */
        SIM_FAIL_TEST,        /* a test/alignment image that many seconds from the shot */
        _SIM_FAIL_MAX,
} SimFailure;

/* The key stem of a failure mode in the scenario: "Never", "WriteLate"... */
const char *sim_failure_key(SimFailure f);

typedef struct SimFailureSpec {
        uint32_t *shots; /* explicit shots (1-based), from Never=3;7 or WriteLate=2:35 */
        double *secs;    /* per explicit shot; NAN: the default below */
        size_t n;
        double rate; /* probability per shot, drawn from the seed */
        double sec;  /* default seconds (meaningless for Never) */
} SimFailureSpec;

typedef struct SimCamera {
        char *name;        /* the camera folder's name */
        bool trigger;      /* a trigger camera in the lab's setup */
        char **names;      /* one name template per kind, NULL-terminated */
        size_t n_kinds;
        char *test_name;   /* template of test/alignment images */
        char *subfolder;   /* template of the sub-folder, "" for none */
        double clock_offset; /* seconds the camera PC's clock is ahead (+) or behind (-) */
        uint32_t *jump_shots; /* ClockJump=: from these shots on (1-based, sorted)… */
        double *jump_secs;    /* …the clock is off by this much more (someone set it) */
        size_t n_jumps;
        uint32_t *free_run_shots; /* FreeRun=: shots where the camera runs free… */
        double *free_run_frames;  /* …writing this many frames in all… */
        size_t n_free_runs;
        double free_run_period;   /* …this many seconds apart */
        double jitter;       /* ± seconds around the shot, drawn per file */
        double delay_min, delay_max; /* seconds from writing to delivery (before bursts) */
        uint32_t counter_start;
        double session_age;  /* {session:...} is this many seconds before the first shot */
        uint64_t file_size;  /* bytes per file */
        SimFailureSpec fail[_SIM_FAIL_MAX];
} SimCamera;

typedef struct SimScenario {
        char *path; /* for messages */
        char *name, *description;
        uint32_t n_shots;
        double period, period_jitter; /* seconds between shots: period + [0, jitter] */
        /* Periods=: the first phase_counts[0] shots are phase_periods[0] s
         * apart (+ [0, phase_jitters[0]]), the next ones as the next phase;
         * shots after every phase follow PeriodSec=. */
        uint32_t *phase_counts;
        double *phase_periods, *phase_jitters;
        size_t n_phases;
        double speed;                 /* default playback speed */
        char *start;                  /* Start=, unparsed ("now", ISO 8601...); NULL: default */
        uint64_t seed;
        uint32_t *fire_shots; /* shots the lab fires through shotsyncd (1-based, sorted) */
        size_t n_fire_shots;
        double delay_min, delay_max, burst_period; /* [Sync] defaults */
        SimCamera *cameras;
        size_t n_cameras;
} SimScenario;

/* Parses and validates a scenario. On error returns NULL and sets error to a
 * sentence naming the file, the group and the key. */
SimScenario *sim_scenario_load(const char *path, GError **error);
SimScenario *sim_scenario_load_from_data(const char *name, const char *data, gsize len, GError **error);
void sim_scenario_free(SimScenario *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SimScenario, sim_scenario_free)

bool sim_scenario_is_fire_shot(const SimScenario *s, uint32_t shot);
const SimCamera *sim_scenario_camera(const SimScenario *s, const char *name);

/* ---- name templates ----
 * {camera} {kind} {counter} {counter:W} {shot} {shot:W} {mtime:FORMAT}
 * {session:FORMAT}; FORMAT is strftime(3) as GLib knows it (%Y %m %d %H %M
 * %S %f...) plus %L for milliseconds; "{{" and "}}" are literal braces. */
typedef struct SimNameContext {
        const char *camera;
        unsigned kind; /* 1-based */
        uint32_t counter;
        uint32_t shot; /* 1-based */
        nsec_t mtime;
        nsec_t session;
} SimNameContext;

char *sim_template_render(const char *tmpl, const SimNameContext *ctx, GError **error);
/* Checks a template without a context (used while parsing). */
bool sim_template_check(const char *tmpl, GError **error);

/* ---- start time ---- */

/* "now", "now-20m", "now+1h30m", "@1765450200", "2025-12-11 11:50:00",
 * "2025-12-11T11:50:00+01:00"; local time when no offset is given. */
int sim_parse_start(const char *s, nsec_t now, nsec_t *ret);
/* "90s", "20m", "1h30m", "2.5" (seconds): into nanoseconds. */
int sim_parse_duration(const char *s, nsec_t *ret);

/* ---- timeline ---- */

typedef enum SimFileRole {
        SIM_FILE_SHOT,      /* the camera's image(s) of the shot */
        SIM_FILE_DUPLICATE, /* an extra acquisition */
        SIM_FILE_TEST,      /* a test or alignment image */
        SIM_FILE_FRAME,     /* a further frame of a camera in free run */
} SimFileRole;

typedef struct SimFile {
        uint32_t camera; /* index in the scenario */
        uint32_t shot;   /* 1-based */
        uint16_t kind;   /* 0-based */
        SimFileRole role;
        unsigned failures; /* 1 << SimFailure that shaped it */
        uint32_t counter;
        nsec_t mtime;      /* campaign time; for a fired shot, offset from the fire instant */
        bool fire_relative;
        usec_t deliver_at; /* playback time */
        uint64_t size;
        char *rel_path;    /* "Camera/sub/name" */
} SimFile;

typedef struct SimShotPlan {
        uint32_t number;  /* 1-based */
        nsec_t time;      /* campaign instant */
        usec_t at;        /* playback instant of the shot (the fire, for a fired shot) */
        bool fired;       /* opened by the fire command */
        nsec_t fire_time; /* planned instant of the fire (fired shots) */
} SimShotPlan;

typedef struct SimTimelineOptions {
        nsec_t start;      /* campaign instant of shot 1 */
        double speed;      /* > 0 */
        nsec_t real_start; /* the real instant playback starts: fired shots happen in real time */
        bool fire;         /* fired shots are opened by a fire command */
        usec_t timeout;    /* shotsyncd's TimeoutSec, for AfterClose; 0 when unknown */
} SimTimelineOptions;

typedef struct SimTimeline {
        const SimScenario *scenario;
        SimTimelineOptions opt;
        SimShotPlan *shots; /* n_shots */
        uint32_t n_shots;
        SimFile *files;     /* in delivery order */
        size_t n_files;
        usec_t duration;    /* playback time of the last event */
        char **warnings;    /* NULL-terminated, for stderr */
} SimTimeline;

/* Generates every file; fails (with file/group/key) when AfterClose= needs a
 * timeout that is unknown, or when two files would get the same path. */
SimTimeline *sim_timeline_new(const SimScenario *s, const SimTimelineOptions *opt, GError **error);
void sim_timeline_free(SimTimeline *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SimTimeline, sim_timeline_free)

/* The mtime a file gets when the fire of its shot happened at fire_time. */
nsec_t sim_file_mtime(const SimTimeline *t, const SimFile *f, nsec_t fire_time);
/* Names a fired shot's files again once the real fire instant is known. */
int sim_timeline_fire_happened(SimTimeline *t, uint32_t shot, nsec_t fire_time, GError **error);
/* A description of why a file is special ("test image", "sync +80 s"...),
 * "" when it is an ordinary one. */
char *sim_file_note(const SimTimeline *t, const SimFile *f);

/* ---- expected outcome ---- */

typedef enum SimFate {
        SIM_FATE_ASSIGNED,  /* in a shot (late or not) */
        SIM_FATE_ORPHAN,    /* fits no window */
        SIM_FATE_DUPLICATE, /* its (camera, kind) was already taken in the nearest shot */
        SIM_FATE_DUPLICATE_TRIGGER, /* a trigger within MinShotIntervalSec of a shot holding its camera's (rule 4) */
        SIM_FATE_IGNORED,   /* ignore keyword or no Files= kind: ImageIgnored */
        SIM_FATE_UNSEEN,    /* hidden or temporary name, or not a configured camera folder */
        _SIM_FATE_MAX,
} SimFate;

const char *sim_fate_to_string(SimFate f);

typedef struct SimExpectFile {
        size_t index; /* in the timeline */
        SimFate fate;
        char *shot_id; /* assigned: its shot; duplicate: the shot holding its slot */
        unsigned kind; /* 1-based, as in manifests, when assigned */
        bool late;
        bool trigger;  /* classified as a trigger */
        char *reason;  /* ignored/unseen: why */
} SimExpectFile;

typedef struct SimExpectShot {
        char *id;       /* "YYYYMMDD-NNN" */
        uint32_t sim_shot; /* the scenario's shot it holds (0: none of them) */
        bool fired;
        char *trigger_camera; /* "" for a Fire */
        char *status;          /* complete, timeout (collecting if the run ends first) */
        GArray *files;         /* size_t: timeline indices, in the order they joined */
        char **missing_at_close;
        char **missing;        /* after late files */
        uint32_t n_late;
} SimExpectShot;

typedef struct SimExpect {
        GPtrArray *shots;     /* SimExpectShot*, in the order they opened */
        SimExpectFile *files; /* one per timeline file */
        size_t n_files;
        double window, timeout, late_grace; /* seconds, from the configuration */
} SimExpect;

/* Feeds the timeline to the grouping engine as shotsyncd would see it with
 * configuration c: each file at its delivery instant, each fire at its
 * instant; with perturb > 0, each event is seen up to perturb later (drawn
 * from seed, order kept), to test how robust the outcome is. Cameras are registered as shotsyncd does; without
 * [Camera] groups, every camera folder of the scenario is taken as present
 * when the daemon starts. */
SimExpect *sim_expect_compute(const SimTimeline *t, const Config *c, usec_t perturb, uint64_t seed, GError **error);
void sim_expect_free(SimExpect *x);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SimExpect, sim_expect_free)

/* Human-readable; one table of shots then the files that are not in one. */
void sim_expect_print(const SimExpect *x, const SimTimeline *t, FILE *out);
/* {"shots":[...],"files":[...]}, stable keys, for tests. */
char *sim_expect_to_json(const SimExpect *x, const SimTimeline *t);
/* One line per shot and file fate, for comparing two outcomes. */
char *sim_expect_digest(const SimExpect *x, const SimTimeline *t);
