/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Random event sequences through the grouping engine, checked against the
 * invariants SPEC §2 promises after every step:
 *   - a file is in at most one shot, and the shot it says;
 *   - at most one file per (camera, kind) per shot;
 *   - every assigned file lies inside its shot's window;
 *   - a shot id is never given twice, and per date numbers are contiguous
 *     unless someone renumbered;
 *   - a complete shot has every expected camera; a collecting one is not
 *     past its deadline once time has been run, and counts as missing
 *     exactly the expected cameras it lacks;
 *   - through reloads that add, drop and reorder kinds and cameras and
 *     change the window, timeout and grace, a shot keeps the kinds it
 *     opened with: every file sits in a kind its shot knows;
 *   - with clock offsets (configured, learned, cameras whose clock jumps,
 *     triggers in bursts of frames): every assigned file lies inside its
 *     shot's window on the reference clock (its mtime minus the offset it
 *     was grouped with); a duplicate trigger never opens a shot and lies
 *     within MinShotIntervalSec of a shot holding its (camera, kind); what
 *     the engine says of a camera's clock, it takes back (save, restore). */

#include <glib.h>
#include <stdio.h>

#include "engine.h"

#define S ((nsec_t) NSEC_PER_SEC)

typedef struct Ctx {
        Engine *e;
        nsec_t min_shot_interval;
        bool kinds_moved; /* a reload moved kinds: a file's kind is no longer its shot's position */
        GHashTable *ids; /* shot ids ever opened */
        bool renumbered;
        GHashTable *max_number; /* date → highest number opened */
} Ctx;

static void fail(const char *what) {
        fprintf(stderr, "invariant broken: %s\n", what);
        abort();
}

static void on_event(const EngineEvent *ev, void *userdata) {
        Ctx *c = userdata;
        Shot *s = ev->shot;

        switch (ev->type) {
        case ENGINE_EVENT_SHOT_OPENED: {
                if (g_hash_table_contains(c->ids, s->id))
                        fail("shot id given twice");
                g_hash_table_add(c->ids, g_strdup(s->id));
                uint32_t max = GPOINTER_TO_UINT(g_hash_table_lookup(c->max_number, GUINT_TO_POINTER(s->date)));
                if (!c->renumbered && s->number != max + 1)
                        fail("numbering not contiguous");
                if (s->number > max)
                        g_hash_table_insert(c->max_number, GUINT_TO_POINTER(s->date), GUINT_TO_POINTER(s->number));
                break;
        }
        case ENGINE_EVENT_FILE_ASSIGNED: {
                nsec_t t = ev->file->dt - ev->file->offset;
                if (t < s->window_start || t > s->window_end)
                        fail("file outside its shot's window");
                if (ev->file->shot != s)
                        fail("assigned file does not know its shot");
                break;
        }
        case ENGINE_EVENT_FILE_DUPLICATE_TRIGGER: {
                const EngineFile *f = ev->file;
                nsec_t t = f->dt - engine_camera_offset(c->e, f->camera), d = t - s->trigger_time;
                if (f->shot || !(f->flags & ENGINE_FILE_TRIGGER))
                        fail("duplicate trigger in a shot, or not a trigger");
                if (s->trigger_file == f)
                        fail("a duplicate trigger opened a shot");
                if (d > c->min_shot_interval || -d > c->min_shot_interval)
                        fail("duplicate trigger farther than MinShotIntervalSec from its shot");
                if (!c->kinds_moved &&
                    (f->kind >= shot_camera_n_kinds(s, c->e, f->camera) || !shot_has_kind(s, c->e, f->camera, f->kind)))
                        fail("duplicate trigger of a shot that lacks its (camera, kind)");
                break;
        }
        case ENGINE_EVENT_CLOCK_UPDATED:
        case ENGINE_EVENT_CLOCK_LEARNED:
        case ENGINE_EVENT_CLOCK_CHANGED:
                if (ev->camera >= engine_n_cameras(c->e))
                        fail("clock event of no camera");
                break;
        case ENGINE_EVENT_SHOT_CLOSED:
                if (s->status == SHOT_COMPLETE)
                        for (uint32_t i = 0; i < s->n_expected; i++)
                                if (!shot_camera_present(s, c->e, s->expected[i]))
                                        fail("complete shot lacks an expected camera");
                break;
        default:
                break;
        }
}

static void check(Ctx *c, usec_t now) {
        uint32_t n;
        Shot *const *live = engine_live_shots(c->e, &n);
        g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);

        for (uint32_t i = 0; i < n; i++) {
                Shot *s = live[i];
                g_autoptr(GHashTable) slots = g_hash_table_new(NULL, NULL);
                for (uint32_t j = 0; j < s->n_files; j++) {
                        EngineFile *f = s->files[j];
                        if (!g_hash_table_add(seen, f))
                                fail("file in two shots");
                        if (f->shot != s)
                                fail("file points at another shot");
                        if (f->dt - f->offset < s->window_start || f->dt - f->offset > s->window_end)
                                fail("file outside window");
                        uintptr_t key = ((uintptr_t) f->camera << 16 | f->kind) + 1;
                        if (!g_hash_table_add(slots, (void *) key))
                                fail("two files for one (camera, kind)");
                        if (f->kind >= shot_camera_n_kinds(s, c->e, f->camera) ||
                            !shot_has_kind(s, c->e, f->camera, f->kind))
                                fail("file in a kind its shot does not know");
                }
                uint32_t missing[64];
                uint32_t n_missing = shot_missing(s, c->e, missing, G_N_ELEMENTS(missing));
                if (s->status == SHOT_COLLECTING && n_missing != s->n_missing)
                        fail("missing count out of step with the kinds held");
                if (s->status == SHOT_COLLECTING && s->deadline <= now)
                        fail("collecting past its deadline");
        }
        for (uint32_t i = 0; i < engine_n_cameras(c->e); i++) {
                EngineClock saved = *engine_camera_clock(c->e, i);
                if (engine_restore_clock(c->e, i, &saved) < 0)
                        fail("a camera's clock cannot be restored as it was saved");
                if (memcmp(&saved, engine_camera_clock(c->e, i), sizeof saved) != 0)
                        fail("a camera's clock restored differs from what was saved");
        }
}

/* One byte at a time, deterministic. */
typedef struct Reader {
        const uint8_t *p;
        size_t n;
} Reader;

static uint8_t next(Reader *r) {
        if (r->n == 0)
                return 0;
        r->n--;
        return *r->p++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Reader r = { data, size };
        Ctx c = {
                .ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
                .max_number = g_hash_table_new(NULL, NULL),
        };
        EngineParams p = {
                .window = (nsec_t) (1 + next(&r) % 20) * S,
                .timeout = (usec_t) (1 + next(&r) % 60) * USEC_PER_SEC,
                .late_grace = (usec_t) (next(&r) % 120) * USEC_PER_SEC,
                .keep_unassigned = (usec_t) (1 + next(&r) % 200) * USEC_PER_SEC,
        };
        uint8_t clocks = next(&r);
        p.learn_offsets = clocks & 1;
        p.min_shot_interval = (nsec_t) (clocks >> 1 & 15) * S / 2;
        c.min_shot_interval = p.min_shot_interval;
        if (engine_new(&p, on_event, &c, &c.e) < 0)
                abort();
        /* The reference: none (the host's clock), C0, or one added later. */
        if (engine_set_reference(c.e, clocks & 0x20 ? NULL : clocks & 0x40 ? "C7" : "C0") < 0)
                abort();
        nsec_t jump[8] = {}; /* each camera's clock set since the start */

        unsigned n_cams = 1 + next(&r) % 6;
        for (unsigned i = 0; i < n_cams; i++) {
                char name[8];
                snprintf(name, sizeof name, "C%u", i);
                uint8_t b = next(&r);
                if (engine_add_camera(c.e, name, NULL, 1 + b % 3, !(b & 0x80), NULL) < 0)
                        abort();
        }

        nsec_t t0 = (nsec_t) 1765493400 * S; /* close to midnight in Paris, windows cross it */
        usec_t now = 1000 * USEC_PER_SEC;
        while (r.n > 0) {
                uint8_t op = next(&r);
                switch (op % 12) {
                case 0:
                case 1:
                case 2: { /* a file */
                        char path[32];
                        uint8_t cam = next(&r) % n_cams, b = next(&r);
                        snprintf(path, sizeof path, "C%u/f%u", cam, next(&r) % 64);
                        EngineFileInfo info = {
                                .path = path,
                                .camera = cam,
                                .kind = (uint16_t) ((b & 3) % engine_camera_n_kinds(c.e, cam)),
                                .trigger = b & 4,
                                .dt = t0 + (nsec_t) (int8_t) next(&r) * S / 2 + jump[cam],
                        };
                        if (engine_add_file(c.e, &info, now, NULL) < 0)
                                abort();
                        break;
                }
                case 3: /* time passes */
                        now += (usec_t) next(&r) * USEC_PER_SEC / 4;
                        engine_run(c.e, now);
                        break;
                case 4: /* Fire */
                        (void) engine_fire(c.e, t0 + (nsec_t) (int8_t) next(&r) * S / 2, now, NULL);
                        break;
                case 5:
                        engine_set_paused(c.e, next(&r) & 1);
                        break;
                case 6: {
                        char path[32];
                        snprintf(path, sizeof path, "C%u/f%u", next(&r) % n_cams, next(&r) % 64);
                        engine_file_gone(c.e, path);
                        break;
                }
                case 7:
                        if (next(&r) & 1) {
                                uint32_t date;
                                if (local_date(t0, &date) >= 0 &&
                                    engine_set_next_number(c.e, date, 1 + next(&r) % 20) >= 0)
                                        c.renumbered = true;
                        } else
                                engine_close_all(c.e, now);
                        break;
                case 8: { /* a reload */
                        static const char *const pool[] = { "*.a", "*.b", "*.c", "*.d" };
                        uint8_t b = next(&r);
                        c.kinds_moved = true;
                        if ((b & 7) == 0 && n_cams < 8) {
                                char name[16];
                                snprintf(name, sizeof name, "C%u", n_cams);
                                if (engine_add_camera(c.e, name, NULL, 1 + b % 3, b & 0x80, NULL) < 0)
                                        abort();
                                n_cams++;
                        } else if ((b & 7) == 1) {
                                EngineParams q = p;
                                q.window = (nsec_t) (1 + next(&r) % 20) * S;
                                q.timeout = (usec_t) (1 + next(&r) % 60) * USEC_PER_SEC;
                                q.late_grace = (usec_t) (next(&r) % 120) * USEC_PER_SEC;
                                if (engine_set_params(c.e, &q) < 0)
                                        abort();
                        } else {
                                /* 1 to 3 distinct kinds, in any order. */
                                const char *kinds[3];
                                unsigned n = 1 + next(&r) % 3, first = next(&r) % 4;
                                for (unsigned k = 0; k < n; k++)
                                        kinds[k] = pool[(first + k * (b & 8 ? 3 : 1)) % 4];
                                if (engine_update_camera(c.e, next(&r) % n_cams, kinds, n, b & 0x40) < 0)
                                        abort();
                        }
                        break;
                }
                case 9: { /* ClockOffsetSec= set, changed or dropped */
                        uint8_t b = next(&r);
                        if (engine_set_camera_clock(c.e, b % n_cams, b & 0x80, (nsec_t) (int8_t) next(&r) * S / 4) < 0)
                                abort();
                        break;
                }
                case 10: /* someone set a camera PC's clock */
                        jump[next(&r) % n_cams] += (nsec_t) (int8_t) next(&r) * S / 4;
                        break;
                case 11: { /* a trigger camera in free run: a burst of frames */
                        uint8_t cam = next(&r) % n_cams, n = 2 + next(&r) % 14, step = 1 + next(&r) % 8;
                        nsec_t dt = t0 + (nsec_t) (int8_t) next(&r) * S / 2 + jump[cam];
                        for (uint8_t k = 0; k < n; k++) {
                                char path[32];
                                snprintf(path, sizeof path, "C%u/burst%u", cam, (unsigned) (next(&r) % 64));
                                EngineFileInfo info = {
                                        .path = path,
                                        .camera = cam,
                                        .trigger = true,
                                        .dt = dt + (nsec_t) k * step * S / 8,
                                };
                                if (engine_add_file(c.e, &info, now, NULL) < 0)
                                        abort();
                        }
                        break;
                }
                }
                check(&c, now);
        }
        engine_run(c.e, USEC_INFINITY - 1);
        check(&c, USEC_INFINITY - 1);

        engine_free(c.e);
        g_hash_table_unref(c.ids);
        g_hash_table_unref(c.max_number);
        return 0;
}
