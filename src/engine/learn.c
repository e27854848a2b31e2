/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Rule 14 in the engine: which residuals feed which camera's clock, what
 * orphans say about clocks beyond the window, and which waiting files an
 * offset that moved decides again. The estimator is clocks.c.
 *
 * Shots are timed on the reference camera's clock. A residual is a file's
 * mtime minus its shot's anchor: the reference camera's file when the shot
 * holds one, else the trigger time when the trigger camera's offset is
 * trusted. A Fire instant is the host's clock: it anchors shots only when
 * there is no reference camera, the host's clock then being the reference
 * (cameras fired and downloaded by the service have offset 0 against it). */

#include "engine-internal.h"

/* How far from its nearest trigger an orphan may lie and still teach its
 * camera's offset (at least this, or twice the window): beyond, the
 * nearest trigger is too often another shot's. A clock that far off is
 * configured (ClockOffsetSec=). */
#define ORPHAN_REACH_MIN (60 * NSEC_PER_SEC)

static void emit_clock(Engine *e, EngineEventType type, uint32_t camera, nsec_t previous) {
        if (!e->fn)
                return;
        EngineEvent ev = { .type = type, .camera = camera, .previous = previous };
        e->fn(&ev, e->userdata);
}

void eng_camera_refresh_offset(Engine *e, EngineCamera *c) {
        const EngineClock *k = &c->clock;
        c->offset = e->params.learn_offsets ? clock_offset_in_use(k) : k->seed;
        e->offset_lo = MIN(e->offset_lo, c->offset);
        e->offset_hi = MAX(e->offset_hi, c->offset);
}

void eng_recompute_offset_bounds(Engine *e) {
        e->offset_lo = e->offset_hi = 0;
        for (uint32_t i = 0; i < e->cameras->len; i++) {
                const EngineCamera *c = e->cameras->pdata[i];
                e->offset_lo = MIN(e->offset_lo, c->offset);
                e->offset_hi = MAX(e->offset_hi, c->offset);
        }
}

static void mark_redecide(Engine *e, EngineCamera *c) {
        if (c->redecide)
                return;
        c->redecide = true;
        e->n_redecide++;
}

/* The reference's offset is exact by definition; other cameras gate once
 * their spread comes from enough residuals. */
bool eng_camera_gated(const Engine *e, uint32_t camera) {
        const EngineCamera *c = eng_camera_get(e, camera);
        if (!c || !e->params.learn_offsets)
                return false;
        return camera == e->reference || c->clock.samples >= ENGINE_CLOCK_SAMPLES_MIN;
}

nsec_t eng_camera_reach(const Engine *e, uint32_t camera) {
        const EngineCamera *c = eng_camera_get(e, camera);
        return c ? clock_tolerance(&c->clock) : 0;
}

static void outcome(Engine *e, uint32_t camera, ClockOutcome o, nsec_t before) {
        EngineCamera *c = eng_camera_get(e, camera);

        if (o == CLOCK_NONE)
                return;
        eng_camera_refresh_offset(e, c);
        switch (o) {
        case CLOCK_UPDATED:
                emit_clock(e, ENGINE_EVENT_CLOCK_UPDATED, camera, before);
                break;
        case CLOCK_LEARNED:
        case CLOCK_CHANGED:
                /* The old offset may have been the widest: queries narrow
                 * again (rare events; a pass over the cameras). */
                eng_recompute_offset_bounds(e);
                /* Files waiting under the old offset may fit a shot now. */
                mark_redecide(e, c);
                emit_clock(e, o == CLOCK_LEARNED ? ENGINE_EVENT_CLOCK_LEARNED : ENGINE_EVENT_CLOCK_CHANGED, camera,
                           before);
                break;
        default:
                break;
        }
}

void eng_anchor_at_open(Engine *e, Shot *s) {
        if (s->trigger_camera == ENGINE_NO_CAMERA)
                s->anchored = !e->reference_name;
        else {
                const EngineCamera *c = eng_camera_get(e, s->trigger_camera);
                s->anchored = s->trigger_camera == e->reference || (e->params.learn_offsets && c->clock.trusted);
        }
        s->anchor = s->trigger_time;
}

/* One residual per camera and shot: its file of the first kind. */
static void sample(Engine *e, Shot *s, EngineFile *f) {
        if ((f->flags & ENGINE_FILE_SAMPLED) || f->kind != 0 || f->camera == e->reference)
                return;
        /* The trigger that timed the shot is the anchor: it says nothing. */
        if (f == s->trigger_file && !s->anchor_file)
                return;
        f->flags |= ENGINE_FILE_SAMPLED;
        EngineCamera *c = eng_camera_get(e, f->camera);
        nsec_t before = c->offset;
        outcome(e, f->camera, clock_add_sample(&c->clock, f->dt - s->anchor, s->anchor), before);
}

void eng_observe(Engine *e, Shot *s, EngineFile *f) {
        if (!e->params.learn_offsets || f->kind != 0)
                return;

        if (f->camera != e->reference) {
                if (s->anchored)
                        sample(e, s, f);
                return;
        }
        if (s->anchor_file)
                return;

        EngineCamera *c = eng_camera_get(e, f->camera);
        nsec_t t = sat_sub(f->dt, c->offset);
        bool had = s->anchored;
        if (had && s->trigger_camera != ENGINE_NO_CAMERA && s->trigger_camera != e->reference) {
                /* The reference's own jitter, against a trusted trigger camera. */
                nsec_t before = c->offset;
                outcome(e, f->camera, clock_add_spread(&c->clock, t - s->anchor), before);
        }
        s->anchor = t;
        s->anchor_file = f;
        s->anchored = true;
        if (!had)
                for (uint32_t i = 0; i < s->n_files; i++)
                        sample(e, s, s->files[i]);
}

/* ---- orphans ---- */

typedef struct Hypothesis {
        nsec_t residual, dist;
        uint32_t date, number;
} Hypothesis;

typedef struct HypothesisContext {
        const Engine *e;
        const EngineFile *f;
        nsec_t t;
        GArray *out;
} HypothesisContext;

static bool hypothesis_visit(void *item, void *userdata) {
        const Shot *s = item;
        HypothesisContext *h = userdata;

        /* Shots whose time is known and that could take the file. */
        if (!s->anchored || eng_shot_kind_of(h->e, s, h->f) < 0 || eng_slot_test(s, h->f->slot))
                return true;
        Hypothesis x = { h->f->dt - s->anchor, nsec_distance(h->t, s->trigger_time), s->date, s->number };
        g_array_append_val(h->out, x);
        return true;
}

static int hypothesis_cmp(const void *a, const void *b) {
        const Hypothesis *x = a, *y = b;
        if (x->dist != y->dist)
                return x->dist < y->dist ? -1 : 1;
        if (x->date != y->date)
                return x->date < y->date ? -1 : 1;
        return x->number < y->number ? -1 : x->number > y->number;
}

static int file_cmp(const void *a, const void *b) {
        const EngineFile *x = *(EngineFile *const *) a, *y = *(EngineFile *const *) b;
        if (x->camera != y->camera)
                return x->camera < y->camera ? -1 : 1;
        if (x->dt != y->dt)
                return x->dt < y->dt ? -1 : 1;
        return strcmp(x->path, y->path);
}

typedef struct OrphanContext {
        Engine *e;
        nsec_t from, to;
        GPtrArray *out;
} OrphanContext;

static bool orphan_visit(void *item, void *userdata) {
        EngineFile *f = item;
        OrphanContext *o = userdata;
        nsec_t t = eng_file_time(o->e, f);

        if (f->camera != o->e->reference && !(f->flags & (ENGINE_FILE_TRIGGER | ENGINE_FILE_EVALUATED)) &&
            t >= o->from && t <= o->to)
                g_ptr_array_add(o->out, f);
        return true;
}

static void evaluate_orphan(Engine *e, EngineFile *f, nsec_t reach, nsec_t at) {
        EngineCamera *c = eng_camera_get(e, f->camera);
        nsec_t t = eng_file_time(e, f);

        f->flags |= ENGINE_FILE_EVALUATED;
        g_autoptr(GArray) hyp = g_array_new(false, false, sizeof(Hypothesis));
        HypothesisContext h = { e, f, t, hyp };
        time_index_query(&e->shot_index, sat_sub(t, reach), sat_add(t, reach), hypothesis_visit, &h);
        if (hyp->len == 0)
                return;
        g_array_sort(hyp, hypothesis_cmp);

        nsec_t residuals[ENGINE_CLOCK_HYPOTHESES], tolerance = clock_tolerance(&c->clock);
        uint32_t n = 0;
        for (guint i = 0; i < hyp->len && n < ENGINE_CLOCK_HYPOTHESES; i++) {
                nsec_t r = g_array_index(hyp, Hypothesis, i).residual;
                /* Where its offset says it is near a shot, it merely waits
                 * (a trigger not seen yet, a shot not closed yet). */
                if (nsec_distance(r, c->offset) <= tolerance)
                        return;
                residuals[n++] = r;
        }
        nsec_t before = c->offset;
        outcome(e, f->camera, clock_add_orphan(&c->clock, residuals, n, at), before);
}

/* A camera whose PC is off by more than W/2 never lands in a window: all its
 * files are orphans. Each is as far from its own shot as the others: that
 * steady distance, over several shots, is its offset. An orphan is looked
 * at once, when a shot after it closes (every shot it may belong to has
 * been seen by then), against the shots around it that lack its camera. */
void eng_learn_from_orphans(Engine *e, Shot *s) {
        if (!e->params.learn_offsets)
                return;

        nsec_t reach = MAX(2 * e->params.window, ORPHAN_REACH_MIN);
        g_autoptr(GPtrArray) orphans = g_ptr_array_new();
        OrphanContext o = { e, sat_sub(s->trigger_time, reach), s->trigger_time, orphans };
        eng_query_unassigned(e, o.from, o.to, orphan_visit, &o);
        g_ptr_array_sort(orphans, file_cmp);
        for (guint i = 0; i < orphans->len; i++)
                evaluate_orphan(e, orphans->pdata[i], reach, s->trigger_time);
}

/* ---- deciding again ---- */

typedef struct Redecide {
        EnginePathKey key;
        uint32_t camera;
} Redecide;

void eng_flush_redecide(Engine *e, usec_t now) {
        while (e->n_redecide > 0) {
                /* One pass over the waiting files for every camera marked
                 * (a pass per camera made a campaign's start cameras x
                 * files). Keys, not pointers: a join may close a shot, which
                 * drops duplicates left in its window. */
                g_autoptr(GArray) todo = g_array_new(false, false, sizeof(Redecide));
                for (EngineFile *f = e->oldest; f; f = f->next) {
                        const EngineCamera *c = eng_camera_get(e, f->camera);
                        if (c && c->redecide)
                                g_array_append_val(todo, ((Redecide) { f->key, f->camera }));
                }
                for (uint32_t i = 0; i < e->cameras->len; i++)
                        ((EngineCamera *) e->cameras->pdata[i])->redecide = false;
                e->n_redecide = 0;

                for (guint k = 0; k < todo->len; k++) {
                        const Redecide *r = &g_array_index(todo, Redecide, k);
                        EngineFile *f = eng_lookup_key(e, &r->key);
                        if (f && !f->shot && (f->flags & ENGINE_FILE_INDEXED) && f->camera == r->camera)
                                (void) eng_try_join(e, f, now);
                }
        }
}

/* ---- the owner's side ---- */

static void restart_learning(Engine *e) {
        for (uint32_t i = 0; i < e->cameras->len; i++) {
                EngineCamera *c = e->cameras->pdata[i];
                clock_reset(&c->clock, c->clock.configured, c->clock.seed);
                eng_camera_refresh_offset(e, c);
        }
        eng_recompute_offset_bounds(e);
}

int engine_set_reference(Engine *e, const char *name) {
        if (name && isempty(name))
                return -EINVAL;
        if (streq_ptr(name, e->reference_name))
                return 0;
        /* Offsets against another clock mean nothing against this one. */
        free(e->reference_name);
        e->reference_name = name ? xstrdup(name) : NULL;
        e->reference = ENGINE_NO_CAMERA;
        if (name)
                (void) engine_find_camera(e, name, &e->reference);
        restart_learning(e);
        return 1;
}

const char *engine_get_reference(const Engine *e) {
        return e->reference_name;
}

int engine_set_camera_clock(Engine *e, uint32_t camera, bool configured, nsec_t seed) {
        EngineCamera *c = eng_camera_get(e, camera);
        if (!c)
                return -ENOENT;
        EngineClock fresh;
        clock_reset(&fresh, configured, seed);
        if (clock_check(&fresh) < 0)
                return -EINVAL;
        if (fresh.configured == c->clock.configured && fresh.seed == c->clock.seed)
                return 0;
        c->clock = fresh;
        /* Bounds widened only: a pass over every camera for each one
         * configured would make a start or a reload quadratic. */
        eng_camera_refresh_offset(e, c);
        mark_redecide(e, c);
        return 1;
}

const EngineClock *engine_camera_clock(const Engine *e, uint32_t camera) {
        const EngineCamera *c = eng_camera_get(e, camera);
        return c ? &c->clock : NULL;
}

nsec_t engine_camera_offset(const Engine *e, uint32_t camera) {
        const EngineCamera *c = eng_camera_get(e, camera);
        return c ? c->offset : 0;
}

int engine_restore_clock(Engine *e, uint32_t camera, const EngineClock *saved) {
        EngineCamera *c = eng_camera_get(e, camera);
        if (!c)
                return -ENOENT;
        if (clock_check(saved) < 0)
                return -EINVAL;
        if (saved->configured != c->clock.configured || saved->seed != c->clock.seed)
                return -ESTALE;
        c->clock = *saved;
        clock_sort_recent(&c->clock);
        if (camera == e->reference) {
                /* Its offset is its seed by definition; only its spread is learned. */
                c->clock.offset = c->clock.seed;
                c->clock.trusted = c->clock.configured;
                c->clock.n_run = c->clock.n_hypotheses = 0;
        }
        eng_camera_refresh_offset(e, c); /* widened only, as above */
        return 0;
}
