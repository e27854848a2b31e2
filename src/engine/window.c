/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* What a shot's window takes (SPEC §2 rules 4–8, 10, 14): the nearest shot
 * for a file, whether that shot is surely the file's, the files a new shot
 * absorbs and a closing one settles or leaves as duplicates, and the
 * duplicate triggers of a camera in free run. Times are corrected: a file's
 * mtime minus its camera's offset. */

#include "engine-internal.h"

static bool shot_lacks(const Engine *e, const Shot *s, const EngineFile *f) {
        return eng_shot_kind_of(e, s, f) >= 0 && !eng_slot_test(s, f->slot);
}

/* Whether s is surely f's shot. A camera whose offset is learned lands
 * within its reach of its shot's time: a file farther away is more likely
 * to belong to a shot not seen yet (shots a few seconds apart, files
 * arriving out of order) than to this collecting one, unless no other shot
 * can be nearer, which MinShotIntervalSec (the shortest time between two
 * shots) bounds. A shot whose time is not known yet (its trigger camera's
 * offset is not learned) takes what its window holds. */
bool eng_sure(const Engine *e, const EngineFile *f, const Shot *s) {
        if (!eng_camera_gated(e, f->camera) || !s->anchored)
                return true;
        /* A shot closes once the shots near it have been seen (TimeoutSec
         * outlasts the window and the sync's delays): a file arriving after
         * has nothing nearer to wait for (rule 10). A trigger still has to be
         * near it, or it is another shot's. */
        if (s->status != SHOT_COLLECTING && !(f->flags & ENGINE_FILE_TRIGGER))
                return true;
        nsec_t d = nsec_distance(eng_file_time(e, f), s->anchor);
        return d <= eng_camera_reach(e, f->camera) || d <= e->params.min_shot_interval / 2;
}

/* A trigger within MinShotIntervalSec of a shot that lacks it is of that
 * shot whatever its camera's reach says: two shots are never closer. */
bool eng_trigger_joins(const Engine *e, const EngineFile *f, const Shot *s) {
        return eng_sure(e, f, s) || nsec_distance(eng_file_time(e, f), s->anchor) <= e->params.min_shot_interval;
}

typedef struct LeftoverContext {
        Engine *e;
        Shot *s;
        GPtrArray *out;
} LeftoverContext;

static bool leftover_visit(void *item, void *userdata) {
        EngineFile *f = item;
        LeftoverContext *c = userdata;
        nsec_t t = eng_file_time(c->e, f);

        if (eng_in_window(c->s, t) && !(f->flags & ENGINE_FILE_TRIGGER) && eng_shot_kind_of(c->e, c->s, f) >= 0 &&
            eng_slot_test(c->s, f->slot) && eng_sure(c->e, f, c->s))
                g_ptr_array_add(c->out, f);
        return true;
}

static int file_order(const void *a, const void *b) {
        const EngineFile *x = *(EngineFile *const *) a, *y = *(EngineFile *const *) b;
        if (x->dt != y->dt)
                return x->dt < y->dt ? -1 : 1;
        return strcmp(x->path, y->path);
}

/* Rule 15: what a closing shot leaves in its window of a (camera, kind) it
 * holds is a duplicate of it, said now and decided for good, not left to
 * wait as an orphan. A file beyond its camera's reach is not a duplicate of
 * this shot: it waits for its own. */
void eng_drop_leftovers(Engine *e, Shot *s) {
        g_autoptr(GPtrArray) left = g_ptr_array_new();
        LeftoverContext c = { e, s, left };
        eng_query_unassigned(e, s->window_start, s->window_end, leftover_visit, &c);
        g_ptr_array_sort(left, file_order);
        for (guint i = 0; i < left->len; i++) {
                EngineFile *f = left->pdata[i];
                eng_unassigned_remove(e, f);
                if (!(f->flags & ENGINE_FILE_REPORTED))
                        eng_emit(e, ENGINE_EVENT_FILE_DUPLICATE, s, f);
                eng_emit(e, ENGINE_EVENT_FILE_EXPIRED, s, f);
                eng_file_drop(e, f, true);
        }
}

typedef struct Candidate {
        EngineFile *f;
        uint32_t slot;
        nsec_t dist;
        nsec_t offset; /* its camera's when it was found fit: what it is grouped with */
} Candidate;

static int candidate_cmp(const void *a, const void *b) {
        const Candidate *x = a, *y = b;
        if (x->slot != y->slot)
                return x->slot < y->slot ? -1 : 1;
        if (x->dist != y->dist)
                return x->dist < y->dist ? -1 : 1;
        if (x->f->dt != y->f->dt)
                return x->f->dt < y->f->dt ? -1 : 1;
        return strcmp(x->f->path, y->f->path);
}

static int winner_cmp(const void *a, const void *b) {
        const Candidate *x = a, *y = b;
        if (x->f->dt != y->f->dt)
                return x->f->dt < y->f->dt ? -1 : 1;
        return strcmp(x->f->path, y->f->path);
}

/* offset: its camera's offset that found it fit for s. What f joining
 * teaches may move it before another file of the same camera joins. */
void eng_join_shot(Engine *e, Shot *s, EngineFile *f, nsec_t offset) {
        f->offset = offset;
        eng_assign(e, s, f, true);
        eng_observe(e, s, f);
}

/* Per (camera, kind), the nearest candidate joins s, in mtime order. */
static void take_nearest(Engine *e, Shot *s, GArray *cands) {
        if (cands->len == 0)
                return;
        g_array_sort(cands, candidate_cmp);
        guint n = 0;
        for (guint i = 0; i < cands->len; i++) {
                Candidate *x = &g_array_index(cands, Candidate, i);
                if (n > 0 && g_array_index(cands, Candidate, n - 1).slot == x->slot)
                        continue;
                g_array_index(cands, Candidate, n++) = *x;
        }
        g_array_set_size(cands, n);
        g_array_sort(cands, winner_cmp);
        for (guint i = 0; i < cands->len; i++) {
                const Candidate *x = &g_array_index(cands, Candidate, i);
                eng_join_shot(e, s, x->f, x->offset);
        }
}

typedef struct CollectContext {
        Engine *e;
        Shot *s;
        GArray *out;
        bool settle;
} CollectContext;

static bool collect_visit(void *item, void *userdata) {
        EngineFile *f = item;
        CollectContext *c = userdata;
        nsec_t t = eng_file_time(c->e, f);

        if (!eng_in_window(c->s, t) || !shot_lacks(c->e, c->s, f))
                return true;
        nsec_t d = nsec_distance(t, c->s->trigger_time);
        if (c->settle) {
                /* A file that waited: s takes it if s is still its nearest. */
                if (f->flags & ENGINE_FILE_TRIGGER)
                        return true;
                ShotPick pick;
                eng_pick_shot(c->e, f, &pick);
                if (pick.best != c->s)
                        return true;
        } else if (!eng_sure(c->e, f, c->s))
                return true;
        Candidate cand = { f, f->slot, d, eng_camera_get(c->e, f->camera)->offset };
        g_array_append_val(c->out, cand);
        return true;
}

/* Rule 5: a new shot takes, per (camera, kind), the nearest already-seen
 * unassigned file in its window (within its camera's reach). */
void eng_absorb(Engine *e, Shot *s) {
        g_autoptr(GArray) cands = g_array_new(false, false, sizeof(Candidate));
        CollectContext c = { e, s, cands, false };
        eng_query_unassigned(e, s->window_start, s->window_end, collect_visit, &c);
        take_nearest(e, s, cands);
}

/* Files that were too far from every shot for their camera's reach waited:
 * when their nearest shot closes (or ends its grace), every shot nearer to
 * them has been seen, and they join it as rule 6 says. */
void eng_settle(Engine *e, Shot *s) {
        g_autoptr(GArray) cands = g_array_new(false, false, sizeof(Candidate));
        CollectContext c = { e, s, cands, true };
        eng_query_unassigned(e, s->window_start, s->window_end, collect_visit, &c);
        take_nearest(e, s, cands);
}

/* Prefers the nearer trigger; on a tie a collecting shot over a closed one,
 * then the earlier shot, so that the choice never depends on memory order. */
static bool shot_better(const Shot *a, nsec_t da, const Shot *b, nsec_t db) {
        if (!b)
                return true;
        if (da != db)
                return da < db;
        bool ca = a->status == SHOT_COLLECTING, cb = b->status == SHOT_COLLECTING;
        if (ca != cb)
                return ca;
        if (a->date != b->date)
                return a->date < b->date;
        return a->number < b->number;
}

typedef struct PickContext {
        const Engine *e;
        ShotPick *pick;
        const EngineFile *f;
        nsec_t t;
} PickContext;

static bool pick_visit(void *item, void *userdata) {
        Shot *s = item;
        PickContext *c = userdata;

        if (!eng_in_window(s, c->t) || eng_shot_kind_of(c->e, s, c->f) < 0)
                return true;
        nsec_t d = nsec_distance(c->t, s->trigger_time);
        if (shot_better(s, d, c->pick->nearest_containing, c->pick->nearest_dist)) {
                c->pick->nearest_containing = s;
                c->pick->nearest_dist = d;
        }
        if (!eng_slot_test(s, c->f->slot) && shot_better(s, d, c->pick->best, c->pick->best_dist)) {
                c->pick->best = s;
                c->pick->best_dist = d;
        }
        return true;
}

void eng_pick_shot(Engine *e, const EngineFile *f, ShotPick *ret) {
        *ret = (ShotPick) {};
        PickContext c = { e, ret, f, eng_file_time(e, f) };
        time_index_query(&e->shot_index, sat_sub(c.t, e->max_half), sat_add(c.t, e->max_half), pick_visit, &c);
}

typedef struct DuplicateContext {
        const Engine *e;
        const EngineFile *f;
        nsec_t t;
        Shot *found;
        nsec_t found_dist;
} DuplicateContext;

static bool duplicate_visit(void *item, void *userdata) {
        Shot *s = item;
        DuplicateContext *c = userdata;
        nsec_t d = nsec_distance(c->t, s->trigger_time);

        if (d <= c->e->params.min_shot_interval && eng_shot_kind_of(c->e, s, c->f) >= 0 && eng_slot_test(s, c->f->slot) &&
            shot_better(s, d, c->found, c->found_dist)) {
                c->found = s;
                c->found_dist = d;
        }
        return true;
}

/* Rule 4: the nearest shot, collecting or in its grace, whose trigger is
 * within MinShotIntervalSec of trigger f and which holds f's (camera,
 * kind): f is then a frame of a camera in free run, not a new shot. */
Shot *eng_duplicate_trigger_of(Engine *e, const EngineFile *f) {
        nsec_t msi = e->params.min_shot_interval;
        if (msi <= 0)
                return NULL;
        DuplicateContext c = { e, f, eng_file_time(e, f) };
        time_index_query(&e->shot_index, sat_sub(c.t, msi), sat_add(c.t, msi), duplicate_visit, &c);
        return c.found;
}
