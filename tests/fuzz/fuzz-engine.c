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
 *     opened with: every file sits in a kind its shot knows. */

#include <glib.h>
#include <stdio.h>

#include "engine.h"

#define S ((nsec_t) NSEC_PER_SEC)

typedef struct Ctx {
        Engine *e;
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
        case ENGINE_EVENT_FILE_ASSIGNED:
                if (ev->file->dt < s->window_start || ev->file->dt > s->window_end)
                        fail("file outside its shot's window");
                if (ev->file->shot != s)
                        fail("assigned file does not know its shot");
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
                        if (f->dt < s->window_start || f->dt > s->window_end)
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
        if (engine_new(&p, on_event, &c, &c.e) < 0)
                abort();

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
                switch (op % 9) {
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
                                .dt = t0 + (nsec_t) (int8_t) next(&r) * S / 2,
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
