/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* From a scenario to every file a campaign produces: its camera, shot,
 * name, mtime (campaign time, the camera PC's clock) and the instant the
 * sync client delivers it (playback time). Pure: no I/O, no clock; every
 * random draw is a hash of the seed and what it is for, so changing one
 * camera or one rate leaves the other draws alone. */

#include <math.h>

#include "sim.h"

/* ---- deterministic draws ---- */

enum {
        DRAW_PERIOD = 1,
        DRAW_JITTER,
        DRAW_DELAY,
        DRAW_BURST_PHASE,
        DRAW_FAILURE, /* + SimFailure */
};

static uint64_t splitmix64(uint64_t x) {
        x += 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
}

/* Uniform in [0, 1) for (seed, what, camera, shot, n). */
static double draw(uint64_t seed, uint32_t what, uint32_t camera, uint32_t shot, uint32_t n) {
        uint64_t h = splitmix64(seed);
        h = splitmix64(h ^ what);
        h = splitmix64(h ^ ((uint64_t) camera << 32 | shot));
        h = splitmix64(h ^ n);
        return (double) (h >> 11) / (double) (1ULL << 53);
}

static double uniform(double lo, double hi, double u) {
        return lo + (hi - lo) * u;
}

static nsec_t sec_to_nsec(double s) {
        return (nsec_t) sim_round(s * 1e9);
}

/* ---- one camera, one shot ---- */

/* Whether failure f hits (camera, shot), and with how many seconds. */
static bool failure_hits(const SimScenario *s, uint32_t cam, uint32_t shot, SimFailure f, double *ret_sec) {
        const SimFailureSpec *fs = &s->cameras[cam].fail[f];
        for (size_t i = 0; i < fs->n; i++)
                if (fs->shots[i] == shot) {
                        *ret_sec = fs->secs && !isnan(fs->secs[i]) ? fs->secs[i] : fs->sec;
                        return true;
                }
        if (fs->rate > 0 && draw(s->seed, DRAW_FAILURE + f, cam, shot, 0) < fs->rate) {
                *ret_sec = fs->sec;
                return true;
        }
        return false;
}

typedef struct Builder {
        const SimScenario *s;
        const SimTimelineOptions *opt;
        SimTimeline *t;
        GArray *files;     /* SimFile */
        GArray *written;   /* nsec_t per file: campaign instant it was really written */
        GArray *acq;       /* uint64_t per file: acquisition key, for counters */
        nsec_t burst_phase;
} Builder;

/* How much a camera's clock was set forward (+) or back since the start,
 * as of shot. */
static double clock_jumped(const SimCamera *c, uint32_t shot) {
        double total = 0;
        for (size_t i = 0; i < c->n_jumps; i++)
                if (c->jump_shots[i] <= shot)
                        total += c->jump_secs[i];
        return total;
}

/* Seconds between shot n - 1 and shot n (n >= 2): its phase's, or PeriodSec=. */
static double gap_before(const SimScenario *s, uint32_t n) {
        uint32_t first = 1;
        for (size_t i = 0; i < s->n_phases; i++) {
                if (n < first + s->phase_counts[i])
                        return s->phase_periods[i] + s->phase_jitters[i] * draw(s->seed, DRAW_PERIOD, 0, n, 0);
                first += s->phase_counts[i];
        }
        return s->period + s->period_jitter * draw(s->seed, DRAW_PERIOD, 0, n, 0);
}

static usec_t campaign_to_playback(const Builder *b, nsec_t c) {
        double d = (double) (c - b->opt->start) / 1e3 / b->opt->speed;
        return d <= 0 ? 0 : (usec_t) sim_round(d);
}

/* When the sync client delivers a file written at w: the first burst after
 * a delay drawn in [DelayMinSec, DelayMaxSec − BurstPeriodSec]. */
static nsec_t delivery(const Builder *b, uint32_t cam, uint32_t shot, uint32_t n, nsec_t w) {
        const SimCamera *c = &b->s->cameras[cam];
        double burst = b->s->burst_period;
        double u = draw(b->s->seed, DRAW_DELAY, cam, shot, n);
        nsec_t d = w + sec_to_nsec(uniform(c->delay_min, c->delay_max - burst, u));
        if (burst <= 0)
                return d;
        nsec_t period = sec_to_nsec(burst), origin = b->opt->start + b->burst_phase;
        nsec_t k = (d - origin + period - 1) / period;
        if (d < origin)
                k = -((origin - d) / period);
        return origin + k * period;
}

static void add_file(Builder *b, const SimFile *f, nsec_t written, uint64_t acq) {
        g_array_append_vals(b->files, f, 1);
        g_array_append_vals(b->written, &written, 1);
        g_array_append_vals(b->acq, &acq, 1);
}

/* One acquisition (every kind) of camera cam for shot i, written at
 * campaign instant w with the camera clock's offset added for the mtime. */
static void add_acquisition(Builder *b, uint32_t cam, const SimShotPlan *shot, SimFileRole role, nsec_t w,
                            unsigned failures, double sync_late, uint32_t draw_n) {
        const SimCamera *c = &b->s->cameras[cam];
        size_t n_kinds = role == SIM_FILE_TEST ? 1 : c->n_kinds;
        uint64_t acq = (uint64_t) shot->number << 24 | (uint64_t) role << 16 | (draw_n & 0xffff);

        for (size_t k = 0; k < n_kinds; k++) {
                /* The kinds of one acquisition are saved one after the other. */
                nsec_t wk = w + (nsec_t) k * 10 * 1000 * 1000;
                nsec_t d = delivery(b, cam, shot->number, draw_n * 16 + (uint32_t) k, wk) + sec_to_nsec(sync_late);
                SimFile f = {
                        .camera = cam,
                        .shot = shot->number,
                        .kind = (uint16_t) k,
                        .role = role,
                        .failures = failures,
                        .mtime = wk + sec_to_nsec(c->clock_offset + clock_jumped(c, shot->number)),
                        .deliver_at = campaign_to_playback(b, d),
                        .size = c->file_size,
                };
                if (shot->fired) {
                        /* Happens now: mtimes follow the real instant of the fire. */
                        f.fire_relative = true;
                        f.mtime -= shot->time;
                        f.deliver_at = MAX(f.deliver_at, shot->at);
                }
                add_file(b, &f, wk, acq);
        }
}

static void add_camera_shot(Builder *b, uint32_t cam, const SimShotPlan *shot) {
        const SimScenario *s = b->s;
        const SimCamera *c = &s->cameras[cam];
        double sec;

        if (failure_hits(s, cam, shot->number, SIM_FAIL_TEST, &sec)) {
                nsec_t w = shot->time + sec_to_nsec(sec);
                add_acquisition(b, cam, shot, SIM_FILE_TEST, w, 1u << SIM_FAIL_TEST, 0, 1);
        }
        if (failure_hits(s, cam, shot->number, SIM_FAIL_NEVER, &sec))
                return;

        unsigned failures = 0;
        double late = 0, sync_late = 0;
        if (failure_hits(s, cam, shot->number, SIM_FAIL_WRITE_LATE, &late))
                failures |= 1u << SIM_FAIL_WRITE_LATE;
        if (failure_hits(s, cam, shot->number, SIM_FAIL_SYNC_LATE, &sync_late))
                failures |= 1u << SIM_FAIL_SYNC_LATE;
        if (failure_hits(s, cam, shot->number, SIM_FAIL_AFTER_CLOSE, &sec))
                failures |= 1u << SIM_FAIL_AFTER_CLOSE; /* delivery fixed in a second pass */

        double jitter = uniform(-c->jitter, c->jitter, draw(s->seed, DRAW_JITTER, cam, shot->number, 0));
        nsec_t w = shot->time + sec_to_nsec(late + jitter);
        add_acquisition(b, cam, shot, SIM_FILE_SHOT, w, failures, sync_late, 0);

        if (failure_hits(s, cam, shot->number, SIM_FAIL_DUPLICATE, &sec))
                add_acquisition(b, cam, shot, SIM_FILE_DUPLICATE, w + sec_to_nsec(sec), 1u << SIM_FAIL_DUPLICATE,
                                sync_late, 2);

        /* A camera in free run: more frames after the one of the shot. */
        for (size_t i = 0; i < c->n_free_runs; i++)
                if (c->free_run_shots[i] == shot->number)
                        for (uint32_t k = 1; k < (uint32_t) c->free_run_frames[i]; k++)
                                add_acquisition(b, cam, shot, SIM_FILE_FRAME, w + sec_to_nsec(k * c->free_run_period), 0,
                                                sync_late, 2 + k);
}

/* AfterClose: shotsyncd opens a shot when the first of its trigger files
 * arrives (or at the fire) and closes it TimeoutSec later at the latest. */
static bool place_after_close(Builder *b, GError **error) {
        SimFile *files = (SimFile *) (void *) b->files->data;
        g_autofree usec_t *opened = g_new(usec_t, b->t->n_shots + 1);

        for (uint32_t i = 0; i <= b->t->n_shots; i++)
                opened[i] = USEC_INFINITY;
        for (uint32_t i = 0; i < b->t->n_shots; i++)
                if (b->t->shots[i].fired)
                        opened[i + 1] = b->t->shots[i].at;
        for (guint i = 0; i < b->files->len; i++) {
                const SimFile *f = &files[i];
                if (f->role == SIM_FILE_SHOT && b->s->cameras[f->camera].trigger &&
                    !(f->failures & (1u << SIM_FAIL_AFTER_CLOSE | 1u << SIM_FAIL_WRITE_LATE)))
                        opened[f->shot] = MIN(opened[f->shot], f->deliver_at);
        }
        for (guint i = 0; i < b->files->len; i++) {
                SimFile *f = &files[i];
                if (!(f->failures & (1u << SIM_FAIL_AFTER_CLOSE)))
                        continue;
                const SimCamera *c = &b->s->cameras[f->camera];
                if (b->opt->timeout == 0) {
                        g_set_error(error, SIM_ERROR, 0,
                                    "%s: [Camera %s] AfterClose: needs shotsyncd's TimeoutSec: give --config", b->s->path,
                                    c->name);
                        return false;
                }
                if (opened[f->shot] == USEC_INFINITY) {
                        g_set_error(error, SIM_ERROR, 0,
                                    "%s: [Camera %s] AfterClose: shot %" PRIu32
                                    " has no trigger file nor fire to open it, so it never closes",
                                    b->s->path, c->name, f->shot);
                        return false;
                }
                double sec = 0;
                (void) failure_hits(b->s, f->camera, f->shot, SIM_FAIL_AFTER_CLOSE, &sec);
                f->deliver_at = opened[f->shot] + b->opt->timeout + (usec_t) sim_round(sec * 1e6 / b->opt->speed);
        }
        return true;
}

/* Counters count acquisitions, in the order each camera really made them. */
typedef struct CounterItem {
        uint32_t camera;
        nsec_t written;
        uint64_t acq;
        guint index;
} CounterItem;

static int counter_cmp(const void *a, const void *b) {
        const CounterItem *x = a, *y = b;
        if (x->camera != y->camera)
                return x->camera < y->camera ? -1 : 1;
        if (x->written != y->written)
                return x->written < y->written ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

static void assign_counters(Builder *b) {
        guint n = b->files->len;
        g_autofree CounterItem *items = g_new(CounterItem, n);
        SimFile *files = (SimFile *) (void *) b->files->data;

        for (guint i = 0; i < n; i++)
                items[i] = (CounterItem) {
                        .camera = files[i].camera,
                        .written = g_array_index(b->written, nsec_t, i) - (nsec_t) files[i].kind * 10 * 1000 * 1000,
                        .acq = g_array_index(b->acq, uint64_t, i),
                        .index = i,
                };
        qsort_safe(items, n, sizeof *items, counter_cmp);
        uint32_t counter = 0, camera = UINT32_MAX;
        uint64_t last_acq = UINT64_MAX;
        for (guint i = 0; i < n; i++) {
                if (items[i].camera != camera) {
                        camera = items[i].camera;
                        counter = b->s->cameras[camera].counter_start;
                        last_acq = UINT64_MAX;
                } else if (items[i].acq != last_acq)
                        counter++;
                last_acq = items[i].acq;
                files[items[i].index].counter = counter;
        }
}

static char *render_path(const SimTimeline *t, const SimFile *f, nsec_t mtime, GError **error) {
        const SimScenario *s = t->scenario;
        const SimCamera *c = &s->cameras[f->camera];
        SimNameContext ctx = {
                .camera = c->name,
                .kind = f->kind + 1u,
                .counter = f->counter,
                .shot = f->shot,
                .mtime = mtime,
                .session = t->opt.start - sec_to_nsec(c->session_age),
        };
        const char *tmpl = f->role == SIM_FILE_TEST ? c->test_name : c->names[f->kind];
        const char *key = f->role == SIM_FILE_TEST ? "TestName" : "Names";
        g_autoptr(GError) e = NULL;
        g_autofree char *name = sim_template_render(tmpl, &ctx, &e);
        if (!name) {
                g_set_error(error, SIM_ERROR, 0, "%s: [Camera %s] %s: %s", s->path, c->name, key, e->message);
                return NULL;
        }
        if (isempty(name) || strchr(name, '/') || streq(name, "..")) {
                g_set_error(error, SIM_ERROR, 0, "%s: [Camera %s] %s: '%s' gives '%s', not a file name", s->path,
                            c->name, key, tmpl, name);
                return NULL;
        }
        g_autofree char *sub = NULL;
        if (!isempty(c->subfolder)) {
                sub = sim_template_render(c->subfolder, &ctx, &e);
                if (!sub) {
                        g_set_error(error, SIM_ERROR, 0, "%s: [Camera %s] SubFolder: %s", s->path, c->name, e->message);
                        return NULL;
                }
                if (sub[0] == '/' || strstr(sub, "..")) {
                        g_set_error(error, SIM_ERROR, 0, "%s: [Camera %s] SubFolder: gives '%s', not a sub-folder",
                                    s->path, c->name, sub);
                        return NULL;
                }
        }
        return isempty(sub) ? g_build_path("/", c->name, name, NULL) : g_build_path("/", c->name, sub, name, NULL);
}

nsec_t sim_file_mtime(const SimTimeline *t, const SimFile *f, nsec_t fire_time) {
        return f->fire_relative ? fire_time + f->mtime : f->mtime;
}

static nsec_t planned_mtime(const SimTimeline *t, const SimFile *f) {
        return sim_file_mtime(t, f, t->shots[f->shot - 1].fire_time);
}

typedef struct Order {
        usec_t at;
        nsec_t written;
        uint32_t camera;
        uint16_t kind;
        guint index;
} Order;

static int order_cmp(const void *a, const void *b) {
        const Order *x = a, *y = b;
        if (x->at != y->at)
                return x->at < y->at ? -1 : 1;
        if (x->written != y->written)
                return x->written < y->written ? -1 : 1;
        if (x->camera != y->camera)
                return x->camera < y->camera ? -1 : 1;
        if (x->kind != y->kind)
                return x->kind < y->kind ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

SimTimeline *sim_timeline_new(const SimScenario *s, const SimTimelineOptions *opt, GError **error) {
        g_autoptr(SimTimeline) t = g_new0(SimTimeline, 1);
        g_autoptr(GPtrArray) warnings = g_ptr_array_new();
        Builder b = {
                .s = s,
                .opt = opt,
                .t = t,
                .files = g_array_new(false, false, sizeof(SimFile)),
                .written = g_array_new(false, false, sizeof(nsec_t)),
                .acq = g_array_new(false, false, sizeof(uint64_t)),
        };
        g_return_val_if_fail(opt->speed > 0, NULL);

        t->scenario = s;
        t->opt = *opt;
        b.burst_phase = sec_to_nsec(s->burst_period * draw(s->seed, DRAW_BURST_PHASE, 0, 0, 0));

        t->n_shots = s->n_shots;
        t->shots = g_new0(SimShotPlan, s->n_shots);
        nsec_t c = opt->start;
        for (uint32_t i = 0; i < s->n_shots; i++) {
                if (i > 0)
                        c += sec_to_nsec(gap_before(s, i + 1));
                SimShotPlan *p = &t->shots[i];
                p->number = i + 1;
                p->time = c;
                p->at = campaign_to_playback(&b, c);
                p->fired = opt->fire && sim_scenario_is_fire_shot(s, p->number);
                p->fire_time = p->fired ? opt->real_start + (nsec_t) p->at * 1000 : p->time;
        }

        for (uint32_t i = 0; i < s->n_shots; i++)
                for (uint32_t cam = 0; cam < s->n_cameras; cam++)
                        add_camera_shot(&b, cam, &t->shots[i]);

        bool ok = place_after_close(&b, error);
        if (ok)
                assign_counters(&b);

        /* Delivery order; ties in the order the files were written. */
        guint n = b.files->len;
        g_autofree Order *order = g_new(Order, n ?: 1);
        SimFile *files = (SimFile *) (void *) b.files->data;
        for (guint i = 0; i < n; i++)
                order[i] = (Order) { files[i].deliver_at, g_array_index(b.written, nsec_t, i), files[i].camera,
                                     files[i].kind, i };
        qsort_safe(order, n, sizeof *order, order_cmp);
        t->files = g_new0(SimFile, n ?: 1);
        t->n_files = n;
        for (guint i = 0; i < n; i++)
                t->files[i] = files[order[i].index];
        g_array_free(b.files, true);
        g_array_free(b.written, true);
        g_array_free(b.acq, true);
        if (!ok)
                return NULL;

        g_autoptr(GHashTable) paths = g_hash_table_new(g_str_hash, g_str_equal);
        for (size_t i = 0; i < t->n_files; i++) {
                SimFile *f = &t->files[i];
                f->rel_path = render_path(t, f, planned_mtime(t, f), error);
                if (!f->rel_path)
                        return NULL;
                const char *base = strrchr(f->rel_path, '/') + 1;
                if (base[0] == '.' || base[0] == '~')
                        g_ptr_array_add(warnings,
                                        g_strdup_printf("%s: [Camera %s] gives the hidden name '%s': shotsyncd will not "
                                                        "look at it",
                                                        s->path, s->cameras[f->camera].name, base));
                if (!g_hash_table_add(paths, f->rel_path)) {
                        const SimCamera *cam = &s->cameras[f->camera];
                        g_set_error(error, SIM_ERROR, 0,
                                    "%s: [Camera %s] %s: two files would both be %s: add {counter} or a finer "
                                    "{mtime:...} to the template",
                                    s->path, cam->name, f->role == SIM_FILE_TEST ? "TestName" : "Names", f->rel_path);
                        return NULL;
                }
                t->duration = MAX(t->duration, f->deliver_at);
        }
        for (uint32_t i = 0; i < t->n_shots; i++)
                if (t->shots[i].fired)
                        t->duration = MAX(t->duration, t->shots[i].at);

        bool any_trigger = false;
        for (size_t i = 0; i < s->n_cameras; i++)
                any_trigger = any_trigger || s->cameras[i].trigger;
        if (!any_trigger && !(opt->fire && s->n_fire_shots > 0))
                g_ptr_array_add(warnings, g_strdup_printf("%s: no camera has Trigger=true and no shot is fired: no "
                                                          "shot will open",
                                                          s->path));
        if (s->n_fire_shots > 0 && !opt->fire)
                g_ptr_array_add(warnings,
                                g_strdup_printf("%s: [Scenario] Fire= lists shots, but without --fire-command they "
                                                "are played like the others (opened by their trigger files)",
                                                s->path));
        g_ptr_array_add(warnings, NULL);
        t->warnings = (char **) g_ptr_array_free(TAKE_PTR(warnings), false);
        return TAKE_PTR(t);
}

void sim_timeline_free(SimTimeline *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n_files; i++)
                g_free(t->files[i].rel_path);
        g_free(t->files);
        g_free(t->shots);
        g_strfreev(t->warnings);
        g_free(t);
}

int sim_timeline_fire_happened(SimTimeline *t, uint32_t shot, nsec_t fire_time, GError **error) {
        if (shot < 1 || shot > t->n_shots || !t->shots[shot - 1].fired)
                return -EINVAL;
        SimShotPlan *p = &t->shots[shot - 1];
        p->fire_time = fire_time;
        for (size_t i = 0; i < t->n_files; i++) {
                SimFile *f = &t->files[i];
                /* Files already delivered keep what they were given. */
                if (f->shot != shot || !f->fire_relative || f->deliver_at < p->at)
                        continue;
                char *path = render_path(t, f, sim_file_mtime(t, f, fire_time), error);
                if (!path)
                        return -EINVAL;
                g_free(f->rel_path);
                f->rel_path = path;
        }
        return 0;
}

char *sim_file_note(const SimTimeline *t, const SimFile *f) {
        const SimScenario *s = t->scenario;
        g_autoptr(GString) n = g_string_new(NULL);
        double sec;

        if (f->role == SIM_FILE_TEST)
                g_string_append(n, "test image");
        if (f->role == SIM_FILE_FRAME)
                g_string_append(n, "free-run frame");
        double jumped = clock_jumped(&s->cameras[f->camera], f->shot);
        if (jumped != 0)
                g_string_append_printf(n, "%sclock set %+g s", n->len ? ", " : "", jumped);
        if (f->role == SIM_FILE_DUPLICATE &&
            failure_hits(s, f->camera, f->shot, SIM_FAIL_DUPLICATE, &sec))
                g_string_append_printf(n, "%sextra acquisition %+g s", n->len ? ", " : "", sec);
        if ((f->failures & (1u << SIM_FAIL_WRITE_LATE)) && failure_hits(s, f->camera, f->shot, SIM_FAIL_WRITE_LATE, &sec))
                g_string_append_printf(n, "%swritten %+g s late", n->len ? ", " : "", sec);
        if ((f->failures & (1u << SIM_FAIL_SYNC_LATE)) && failure_hits(s, f->camera, f->shot, SIM_FAIL_SYNC_LATE, &sec))
                g_string_append_printf(n, "%ssync %+g s late", n->len ? ", " : "", sec);
        if ((f->failures & (1u << SIM_FAIL_AFTER_CLOSE)) &&
            failure_hits(s, f->camera, f->shot, SIM_FAIL_AFTER_CLOSE, &sec))
                g_string_append_printf(n, "%sdelivered %g s after the shot's timeout", n->len ? ", " : "", sec);
        return g_string_free(TAKE_PTR(n), false);
}
