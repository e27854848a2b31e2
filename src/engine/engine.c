/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <glib.h>
#include <stdio.h>

#include "engine-internal.h"

static const char *const shot_status_table[_SHOT_STATUS_MAX] = {
        [SHOT_COLLECTING] = "collecting",
        [SHOT_COMPLETE] = "complete",
        [SHOT_TIMEOUT] = "timeout",
};

const char *shot_status_to_string(ShotStatus s) {
        return s >= 0 && s < _SHOT_STATUS_MAX ? shot_status_table[s] : NULL;
}

int shot_status_from_string(const char *s, ShotStatus *ret) {
        for (ShotStatus i = 0; i < _SHOT_STATUS_MAX; i++)
                if (streq(s, shot_status_table[i])) {
                        *ret = i;
                        return 0;
                }
        return -EINVAL;
}

void eng_emit(Engine *e, EngineEventType type, Shot *s, EngineFile *f) {
        if (!e->fn)
                return;
        EngineEvent ev = { .type = type, .shot = s, .file = f, .camera = ENGINE_NO_CAMERA };
        e->fn(&ev, e->userdata);
}


static int default_date_of(nsec_t t, uint32_t *ret) {
        return local_date(t, ret);
}

static int date_of(const Engine *e, nsec_t t, uint32_t *ret) {
        return (e->params.date_of ?: default_date_of)(t, ret);
}


/* ---- shot lists (sorted by deadline; appends are the common case) ---- */

void eng_list_insert(ShotList *l, Shot *s) {
        Shot *after = l->tail;
        while (after && after->deadline > s->deadline)
                after = after->prev;
        s->prev = after;
        s->next = after ? after->next : l->head;
        if (s->next)
                s->next->prev = s;
        else
                l->tail = s;
        if (after)
                after->next = s;
        else
                l->head = s;
}

static void list_remove(ShotList *l, Shot *s) {
        if (s->prev)
                s->prev->next = s->next;
        else
                l->head = s->next;
        if (s->next)
                s->next->prev = s->prev;
        else
                l->tail = s->prev;
        s->prev = s->next = NULL;
}

/* ---- unassigned files ---- */

static void unassigned_add(Engine *e, EngineFile *f) {
        assert(!(f->flags & ENGINE_FILE_INDEXED));
        time_index_add(&e->unassigned, f, f->dt);

        /* Expiry order is by seen_at; restored files may be older. */
        EngineFile *after = e->newest;
        while (after && after->seen_at > f->seen_at)
                after = after->prev;
        f->prev = after;
        f->next = after ? after->next : e->oldest;
        if (f->next)
                f->next->prev = f;
        else
                e->newest = f;
        if (after)
                after->next = f;
        else
                e->oldest = f;

        f->flags |= ENGINE_FILE_INDEXED;
        e->n_unassigned++;
}

void eng_unassigned_remove(Engine *e, EngineFile *f) {
        if (!(f->flags & ENGINE_FILE_INDEXED))
                return;
        time_index_remove(&e->unassigned, f, f->dt);
        if (f->prev)
                f->prev->next = f->next;
        else
                e->oldest = f->next;
        if (f->next)
                f->next->prev = f->prev;
        else
                e->newest = f->prev;
        f->prev = f->next = NULL;
        f->flags &= (uint8_t) ~ENGINE_FILE_INDEXED;
        e->n_unassigned--;
}

static guint key_hash(const void *p) {
        return (guint) ((const EnginePathKey *) p)->a;
}

static gboolean key_equal(const void *a, const void *b) {
        const EnginePathKey *x = a, *y = b;
        return x->a == y->a && x->b == y->b;
}

EngineFile *eng_lookup_key(const Engine *e, const EnginePathKey *k) {
        const EnginePathKey *found = NULL;
        if (!g_hash_table_lookup_extended(e->files, k, (void **) &found, NULL))
                return NULL;
        return container_of(found, EngineFile, key);
}

EngineFile *eng_file_new(const EngineFileInfo *info, const EnginePathKey *key, uint32_t slot, usec_t now) {
        size_t len = strlen(info->path);
        EngineFile *f = malloc(sizeof(EngineFile) + len + 1);
        if (!f)
                g_error("out of memory");
        *f = (EngineFile) {
                .key = *key,
                .dt = info->dt,
                .seen_at = now,
                .camera = info->camera,
                .slot = slot,
                .kind = info->kind,
                .flags = info->trigger ? ENGINE_FILE_TRIGGER : 0,
        };
        memcpy(f->path, info->path, len + 1);
        return f;
}

void engine_identity_key(const char *path, nsec_t dt, EnginePathKey *ret) {
        size_t len = strlen(path);
        g_autofree char *buf = g_malloc(len + sizeof dt);
        memcpy(buf, path, len);
        memcpy(buf + len, &dt, sizeof dt);
        tombstones_key(buf, len + sizeof dt, ret);
}

/* A newer version of its path takes its place in the table; it stays with
 * its shot. */
static void file_supersede(Engine *e, EngineFile *f) {
        g_hash_table_remove(e->files, &f->key);
        f->flags |= ENGINE_FILE_SUPERSEDED;
}

/* Drops a file from memory entirely; remember=true keeps its identity so
 * that it is never decided again. */
void eng_file_drop(Engine *e, EngineFile *f, bool remember) {
        eng_unassigned_remove(e, f);
        if (!(f->flags & ENGINE_FILE_SUPERSEDED))
                g_hash_table_remove(e->files, &f->key);
        if (remember) {
                EnginePathKey id;
                engine_identity_key(f->path, f->dt, &id);
                (void) engine_add_tombstone(e, &id, f->dt);
        }
        free(f);
}

/* ---- shots ---- */

void eng_live_add(Engine *e, Shot *s) {
        s->live_pos = e->live->len;
        g_ptr_array_add(e->live, s);
        e->live_sorted = false;
}

static void live_remove(Engine *e, Shot *s) {
        uint32_t last = e->live->len - 1;
        if (s->live_pos != last) {
                Shot *moved = e->live->pdata[last];
                e->live->pdata[s->live_pos] = moved;
                moved->live_pos = s->live_pos;
        }
        g_ptr_array_set_size(e->live, last);
        e->live_sorted = false;
}

void eng_shot_index_add(Engine *e, Shot *s) {
        time_index_add(&e->shot_index, s, s->trigger_time);
        nsec_t half = MAX(s->trigger_time - s->window_start, s->window_end - s->trigger_time);
        e->max_half = MAX(e->max_half, half);
}

static void shot_free(Shot *s) {
        if (!s)
                return;
        eng_layout_set_unref(s->layouts);
        g_free(s->files);
        g_free(s->expected);
        g_free(s->slots);
        free(s);
}

Shot *eng_shot_alloc(Engine *e, uint32_t date, uint32_t number, nsec_t t, nsec_t ws, nsec_t we) {
        Shot *s = g_new0(Shot, 1);
        s->date = date;
        s->number = number;
        (void) shot_format_id(date, number, s->id);
        s->trigger_time = t;
        s->window_start = ws;
        s->window_end = we;
        s->trigger_camera = ENGINE_NO_CAMERA;
        s->n_slot_words = (e->n_slots + 63) / 64;
        s->slots = g_new0(uint64_t, MAX(s->n_slot_words, 1u));
        s->n_slot_words = MAX(s->n_slot_words, 1u);
        return s;
}

static void shot_add_file(Shot *s, EngineFile *f) {
        if (s->n_files == s->n_files_alloc) {
                s->n_files_alloc = MAX(8u, s->n_files_alloc * 2);
                s->files = g_renew(EngineFile *, s->files, s->n_files_alloc);
        }
        s->files[s->n_files++] = f;
}

nsec_t eng_file_time(const Engine *e, const EngineFile *f) {
        const EngineCamera *c = eng_camera_get(e, f->camera);
        return sat_sub(f->dt, c ? c->offset : 0);
}

/* Unassigned files are indexed by raw time: a query in corrected time looks
 * as much wider as offsets differ. */
void eng_query_unassigned(const Engine *e, nsec_t lo, nsec_t hi, TimeIndexVisit visit, void *userdata) {
        time_index_query(&e->unassigned, sat_add(lo, e->offset_lo), sat_add(hi, e->offset_hi), visit, userdata);
}

/* The slot f takes in s: -1 when s does not take f's kind (a camera or kind
 * it did not open with). */
int eng_shot_kind_of(const Engine *e, const Shot *s, const EngineFile *f) {
        const EngineLayout *l = eng_shot_layout(e, s, f->camera);
        return l ? eng_layout_kind_of(l, f->slot) : -1;
}

static void close_shot(Engine *e, Shot *s, usec_t now) {
        assert(s->status == SHOT_COLLECTING);
        list_remove(&e->collecting, s);
        eng_settle(e, s);
        s->status = s->n_missing == 0 ? SHOT_COMPLETE : SHOT_TIMEOUT;
        s->closed_at = now;
        s->deadline = usec_add(now, s->late_grace);
        eng_list_insert(&e->closed, s);
        eng_emit(e, ENGINE_EVENT_SHOT_CLOSED, s, NULL);
        eng_drop_leftovers(e, s);
        eng_learn_from_orphans(e, s);
}

void eng_maybe_complete(Engine *e, Shot *s, usec_t now) {
        if (s->status == SHOT_COLLECTING && s->n_missing == 0)
                close_shot(e, s, now);
}

/* Puts f into s for good. The caller checks completeness afterwards. */
void eng_assign(Engine *e, Shot *s, EngineFile *f, bool emit_event) {
        int kind = eng_shot_kind_of(e, s, f);
        assert(kind >= 0);

        eng_unassigned_remove(e, f);
        f->shot = s;
        f->kind = (uint16_t) kind;
        if (s->status != SHOT_COLLECTING)
                f->flags |= ENGINE_FILE_LATE;
        shot_add_file(s, f);
        eng_slot_set(s, f->slot);
        if (eng_shot_expects(s, f->camera) && shot_camera_present(s, e, f->camera)) {
                assert(s->n_missing > 0);
                s->n_missing--;
        }
        if (emit_event)
                eng_emit(e, ENGINE_EVENT_FILE_ASSIGNED, s, f);
}

static void retire_shot(Engine *e, Shot *s) {
        eng_settle(e, s);
        list_remove(&e->closed, s);
        time_index_remove(&e->shot_index, s, s->trigger_time);
        live_remove(e, s);
        if (e->live->len == 0)
                e->max_half = 0;
        eng_emit(e, ENGINE_EVENT_SHOT_RETIRED, s, NULL);
        for (uint32_t i = 0; i < s->n_files; i++)
                eng_file_drop(e, s->files[i], true);
        shot_free(s);
}

static uint32_t *expected_snapshot(Engine *e, uint32_t *ret_n) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < e->cameras->len; i++)
                if (((EngineCamera *) e->cameras->pdata[i])->expected)
                        n++;
        uint32_t *v = g_new(uint32_t, MAX(n, 1u));
        n = 0;
        for (uint32_t i = 0; i < e->cameras->len; i++)
                if (((EngineCamera *) e->cameras->pdata[i])->expected)
                        v[n++] = i;
        *ret_n = n;
        return v;
}

bool engine_number_used(const Engine *e, uint32_t date, uint32_t number) {
        return numbering_used(e->numbering, date, number);
}

uint32_t engine_next_number(const Engine *e, uint32_t date) {
        return numbering_next(e->numbering, date);
}

int engine_mark_number_used(Engine *e, uint32_t date, uint32_t number) {
        return numbering_mark_used(e->numbering, date, number);
}

int engine_set_next_number(Engine *e, uint32_t date, uint32_t number) {
        return numbering_set_next(e->numbering, date, number);
}

void engine_foreach_counter(const Engine *e, EngineCounterFn fn, void *userdata) {
        numbering_foreach(e->numbering, fn, userdata);
}

/* t: the trigger time on the reference clock (the trigger's corrected
 * mtime, or the Fire instant). */
static int open_shot(Engine *e, nsec_t t, EngineFile *trigger, usec_t now, Shot **ret) {
        uint32_t date;
        int r = date_of(e, t, &date);
        if (r < 0)
                return r;

        uint32_t number;
        r = numbering_take(e->numbering, date, &number);
        if (r < 0)
                return r;

        nsec_t half = e->params.window / 2;
        Shot *s = eng_shot_alloc(e, date, number, t, sat_sub(t, half), sat_add(t, half));
        s->expected = expected_snapshot(e, &s->n_expected);
        s->n_missing = s->n_expected;
        s->layouts = eng_layout_set_ref(eng_current_layouts(e));
        s->opened_at = now;
        s->deadline = usec_add(now, e->params.timeout);
        s->late_grace = e->params.late_grace;
        s->status = SHOT_COLLECTING;
        if (trigger) {
                s->trigger_camera = trigger->camera;
                s->trigger_file = trigger;
        }
        eng_anchor_at_open(e, s);

        eng_shot_index_add(e, s);
        eng_live_add(e, s);
        eng_list_insert(&e->collecting, s);

        eng_emit(e, ENGINE_EVENT_SHOT_OPENED, s, NULL);
        if (trigger)
                eng_join_shot(e, s, trigger, eng_camera_get(e, trigger->camera)->offset);
        eng_absorb(e, s);
        if (ret)
                *ret = s;
        eng_maybe_complete(e, s, now);
        return 0;
}

static void keep_unassigned(Engine *e, EngineFile *f, EngineEventType why, Shot *s) {
        f->offset = eng_camera_get(e, f->camera)->offset;
        unassigned_add(e, f);
        eng_emit(e, why, s, f);
}

static bool join(Engine *e, EngineFile *f, const ShotPick *pick, usec_t now) {
        if (!pick->best)
                return false;
        bool ok = f->flags & ENGINE_FILE_TRIGGER ? eng_trigger_joins(e, f, pick->best) : eng_sure(e, f, pick->best);
        if (!ok)
                return false;
        Shot *s = pick->best;
        eng_join_shot(e, s, f, eng_camera_get(e, f->camera)->offset);
        eng_maybe_complete(e, s, now);
        return true;
}

bool eng_try_join(Engine *e, EngineFile *f, usec_t now) {
        ShotPick pick;
        eng_pick_shot(e, f, &pick);
        return join(e, f, &pick, now);
}

static void decide(Engine *e, EngineFile *f, usec_t now) {
        ShotPick pick;
        eng_pick_shot(e, f, &pick);
        /* Rules 4, 6, 7 and 10: join the nearest shot that lacks it. */
        if (join(e, f, &pick, now))
                return;

        if (f->flags & ENGINE_FILE_TRIGGER) {
                Shot *held = eng_duplicate_trigger_of(e, f);
                if (held) {
                        /* Decided for good: never a shot of its own. */
                        eng_emit(e, ENGINE_EVENT_FILE_DUPLICATE_TRIGGER, held, f);
                        eng_emit(e, ENGINE_EVENT_FILE_EXPIRED, held, f);
                        eng_file_drop(e, f, true);
                        return;
                }
                if (e->paused) {
                        keep_unassigned(e, f, ENGINE_EVENT_FILE_HELD, NULL);
                        return;
                }
                if (open_shot(e, eng_file_time(e, f), f, now, NULL) < 0)
                        keep_unassigned(e, f, ENGINE_EVENT_FILE_ORPHANED, NULL);
                return;
        }

        if (pick.best)
                /* Too far for its camera's reach: it waits for a nearer shot,
                 * or for this one to close. */
                keep_unassigned(e, f, ENGINE_EVENT_FILE_ORPHANED, pick.best);
        else if (pick.nearest_containing && eng_sure(e, f, pick.nearest_containing)) {
                f->flags |= ENGINE_FILE_REPORTED;
                keep_unassigned(e, f, ENGINE_EVENT_FILE_DUPLICATE, pick.nearest_containing);
        } else
                keep_unassigned(e, f, ENGINE_EVENT_FILE_ORPHANED, NULL);
}

int engine_add_file(Engine *e, const EngineFileInfo *info, usec_t now, EngineAddResult *ret_result) {
        EngineAddResult result = ENGINE_ADD_NEW;

        if (!info || isempty(info->path))
                return -EINVAL;
        uint32_t slot;
        if (!eng_slot_of(e, info->camera, info->kind, &slot))
                return -ENOENT;

        EnginePathKey k;
        engine_path_key(info->path, &k);
        EngineFile *old = eng_lookup_key(e, &k);
        if (old && old->dt == info->dt) {
                if (old->shot || (old->camera == info->camera && old->slot == slot &&
                                  !!(old->flags & ENGINE_FILE_TRIGGER) == info->trigger)) {
                        if (ret_result)
                                *ret_result = ENGINE_ADD_KNOWN;
                        return 0;
                }
                /* Classified anew (a reload) before any shot took it. */
                eng_file_drop(e, old, false);
                result = ENGINE_ADD_CHANGED;
        } else {
                EnginePathKey id;
                engine_identity_key(info->path, info->dt, &id);
                bool known = engine_has_tombstone(e, &id, info->dt) ||
                             (!old && info->dt < e->legacy_cutoff && tombstones_contains(&e->legacy_tombstones, &k));
                if (old && old->shot) {
                        /* Rule 15: a new mtime under a path already decided
                         * is a new file; the old one stays where it went. */
                        if (!known)
                                file_supersede(e, old);
                } else if (old) {
                        /* Rewritten before any shot took it: the last mtime counts. */
                        eng_file_drop(e, old, false);
                        result = ENGINE_ADD_CHANGED;
                }
                if (known) {
                        if (ret_result)
                                *ret_result = ENGINE_ADD_KNOWN;
                        return 0;
                }
        }

        EngineFile *f = eng_file_new(info, &k, slot, now);
        g_hash_table_add(e->files, &f->key);
        decide(e, f, now);
        eng_flush_redecide(e, now);
        if (ret_result)
                *ret_result = result;
        return 0;
}

void engine_file_gone(Engine *e, const char *path) {
        EngineFile *f = engine_lookup_file(e, path);
        if (f && !f->shot)
                eng_file_drop(e, f, false);
}

EngineFile *engine_lookup_file(const Engine *e, const char *path) {
        EnginePathKey k;
        engine_path_key(path, &k);
        return eng_lookup_key(e, &k);
}

int engine_fire(Engine *e, nsec_t t, usec_t now, Shot **ret) {
        int r = open_shot(e, t, NULL, now, ret);
        eng_flush_redecide(e, now);
        return r;
}

void engine_set_paused(Engine *e, bool paused) {
        e->paused = paused;
}

bool engine_is_paused(const Engine *e) {
        return e->paused;
}

void engine_run(Engine *e, usec_t now) {
        while (e->collecting.head && e->collecting.head->deadline <= now)
                close_shot(e, e->collecting.head, now);
        while (e->closed.head && e->closed.head->deadline <= now)
                retire_shot(e, e->closed.head);
        eng_flush_redecide(e, now);
        while (e->oldest && usec_add(e->oldest->seen_at, e->params.keep_unassigned) <= now) {
                EngineFile *f = e->oldest;
                eng_unassigned_remove(e, f);
                eng_emit(e, ENGINE_EVENT_FILE_EXPIRED, NULL, f);
                eng_file_drop(e, f, true);
        }
}

usec_t engine_next_deadline(const Engine *e) {
        usec_t d = USEC_INFINITY;
        if (e->collecting.head)
                d = MIN(d, e->collecting.head->deadline);
        if (e->closed.head)
                d = MIN(d, e->closed.head->deadline);
        if (e->oldest)
                d = MIN(d, usec_add(e->oldest->seen_at, e->params.keep_unassigned));
        return d;
}

void engine_close_all(Engine *e, usec_t now) {
        while (e->collecting.head) {
                close_shot(e, e->collecting.head, now);
                /* What closing learned may still place waiting files. */
                eng_flush_redecide(e, now);
        }
}

static int live_cmp(const void *a, const void *b) {
        const Shot *x = *(Shot *const *) a, *y = *(Shot *const *) b;
        if (x->date != y->date)
                return x->date < y->date ? -1 : 1;
        return x->number < y->number ? -1 : x->number > y->number;
}

Shot *const *engine_live_shots(const Engine *e, uint32_t *ret_n) {
        Engine *m = (Engine *) e; /* sorting lazily does not change what the engine means */
        if (!m->live_sorted) {
                if (m->live->len > 1)
                        qsort_safe(m->live->pdata, m->live->len, sizeof(void *), live_cmp);
                for (uint32_t i = 0; i < m->live->len; i++)
                        ((Shot *) m->live->pdata[i])->live_pos = i;
                m->live_sorted = true;
        }
        *ret_n = e->live->len;
        return (Shot *const *) e->live->pdata;
}

Shot *engine_find_shot(const Engine *e, const char *id) {
        for (uint32_t i = 0; i < e->live->len; i++) {
                Shot *s = e->live->pdata[i];
                if (streq(s->id, id))
                        return s;
        }
        return NULL;
}

size_t engine_n_unassigned(const Engine *e) {
        return e->n_unassigned;
}

GPtrArray *engine_unassigned_paths(const Engine *e, usec_t before) {
        GPtrArray *v = g_ptr_array_new_with_free_func(g_free);
        for (EngineFile *f = e->oldest; f && f->seen_at < before; f = f->next)
                g_ptr_array_add(v, g_strdup(f->path));
        return v;
}

size_t engine_n_files(const Engine *e) {
        return g_hash_table_size(e->files);
}

/* ---- forgotten files ---- */

void engine_path_key(const char *path, EnginePathKey *ret) {
        tombstones_key(path, strlen(path), ret);
}

#define DAY_NSEC (86400 * NSEC_PER_SEC)

static int64_t day_of(nsec_t t) {
        int64_t d = t / DAY_NSEC;
        return t % DAY_NSEC < 0 ? d - 1 : d;
}

static void tombstones_free(void *p) {
        tombstones_done(p);
        g_free(p);
}

int engine_add_tombstone(Engine *e, const EnginePathKey *key, nsec_t dt) {
        int64_t day = day_of(dt);
        Tombstones *t = g_hash_table_lookup(e->forgotten, &day);
        if (!t) {
                t = g_new0(Tombstones, 1);
                tombstones_init(t);
                g_hash_table_insert(e->forgotten, g_memdup2(&day, sizeof day), t);
        }
        tombstones_add(t, key);
        return 0;
}

int engine_add_legacy_tombstone(Engine *e, const EnginePathKey *path_key) {
        tombstones_add(&e->legacy_tombstones, path_key);
        return 0;
}

void engine_set_legacy_cutoff(Engine *e, nsec_t cutoff) {
        e->legacy_cutoff = cutoff;
}

bool engine_has_legacy_tombstones(const Engine *e) {
        return e->legacy_tombstones.n > 0;
}

void engine_clear_tombstones(Engine *e) {
        g_hash_table_remove_all(e->forgotten);
        tombstones_done(&e->legacy_tombstones);
        tombstones_init(&e->legacy_tombstones);
        e->legacy_cutoff = 0;
}

bool engine_has_tombstone(const Engine *e, const EnginePathKey *key, nsec_t dt) {
        int64_t day = day_of(dt);
        const Tombstones *t = g_hash_table_lookup(e->forgotten, &day);
        return t && tombstones_contains(t, key);
}

size_t engine_n_tombstones(const Engine *e) {
        size_t n = 0;
        GHashTableIter it;
        void *v;
        g_hash_table_iter_init(&it, e->forgotten);
        while (g_hash_table_iter_next(&it, NULL, &v))
                n += ((Tombstones *) v)->n;
        return n;
}

void engine_foreach_tombstone(const Engine *e, EngineTombstoneFn fn, void *userdata) {
        GHashTableIter it;
        void *k, *v;
        g_hash_table_iter_init(&it, e->forgotten);
        while (g_hash_table_iter_next(&it, &k, &v)) {
                const Tombstones *t = v;
                nsec_t start = *(int64_t *) k * DAY_NSEC;
                for (size_t i = 0; t->slots && i <= t->mask; i++)
                        if (t->slots[i].a || t->slots[i].b)
                                fn(&t->slots[i], start, userdata);
        }
}

size_t engine_forget_before(Engine *e, nsec_t horizon) {
        /* Whole days before the horizon's: every file of them is history. */
        int64_t first = day_of(horizon);
        size_t n = 0;
        GHashTableIter it;
        void *k, *v;
        g_hash_table_iter_init(&it, e->forgotten);
        while (g_hash_table_iter_next(&it, &k, &v))
                if (*(int64_t *) k < first) {
                        n += ((Tombstones *) v)->n;
                        g_hash_table_iter_remove(&it);
                }
        if (e->legacy_cutoff != 0 && e->legacy_cutoff < horizon) {
                tombstones_done(&e->legacy_tombstones);
                tombstones_init(&e->legacy_tombstones);
                e->legacy_cutoff = 0;
        }
        uint32_t date;
        if (date_of(e, sat_sub(horizon, DAY_NSEC), &date) >= 0)
                numbering_forget_before(e->numbering, date);
        return n;
}

/* ---- life cycle ---- */

int engine_check_params(const EngineParams *p) {
        if (!p || p->window <= 0)
                return -EINVAL;
        return 0;
}

int engine_new(const EngineParams *params, EngineEventFn fn, void *userdata, Engine **ret) {
        int r = engine_check_params(params);
        if (r < 0)
                return r;

        Engine *e = g_new0(Engine, 1);
        e->params = *params;
        e->fn = fn;
        e->userdata = userdata;
        e->cameras = g_ptr_array_new_with_free_func(eng_camera_free);
        e->camera_by_name = g_hash_table_new(g_str_hash, g_str_equal);
        e->files = g_hash_table_new(key_hash, key_equal);
        time_index_init(&e->unassigned, params->window, offsetof(EngineFile, pos));
        time_index_init(&e->shot_index, params->window, offsetof(Shot, pos));
        e->live = g_ptr_array_new();
        e->reference = ENGINE_NO_CAMERA;
        e->numbering = numbering_new();
        e->forgotten = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, tombstones_free);
        tombstones_init(&e->legacy_tombstones);
        *ret = e;
        return 0;
}

static nsec_t file_time(void *item) {
        return ((EngineFile *) item)->dt;
}

static nsec_t shot_time(void *item) {
        return ((Shot *) item)->trigger_time;
}

int engine_set_params(Engine *e, const EngineParams *params) {
        int r = engine_check_params(params);
        if (r < 0)
                return r;
        if (params->window != e->params.window) {
                time_index_rebuild(&e->unassigned, params->window, file_time);
                time_index_rebuild(&e->shot_index, params->window, shot_time);
        }
        bool learn_changed = params->learn_offsets != e->params.learn_offsets;
        /* Open shots keep the window, timeout and grace they were given. */
        e->params = *params;
        if (learn_changed) {
                for (uint32_t i = 0; i < e->cameras->len; i++)
                        eng_camera_refresh_offset(e, e->cameras->pdata[i]);
                eng_recompute_offset_bounds(e);
        }
        return 0;
}

const EngineParams *engine_get_params(const Engine *e) {
        return &e->params;
}

Engine *engine_free(Engine *e) {
        if (!e)
                return NULL;

        for (uint32_t i = 0; i < e->live->len; i++) {
                Shot *s = e->live->pdata[i];
                for (uint32_t j = 0; j < s->n_files; j++)
                        free(s->files[j]);
                shot_free(s);
        }
        g_ptr_array_unref(e->live);
        for (EngineFile *f = e->oldest, *n; f; f = n) {
                n = f->next;
                free(f);
        }
        time_index_done(&e->unassigned);
        time_index_done(&e->shot_index);
        g_hash_table_unref(e->files);
        numbering_free(e->numbering);
        g_hash_table_unref(e->camera_by_name);
        eng_layout_set_unref(e->current);
        g_ptr_array_unref(e->cameras);
        g_hash_table_unref(e->forgotten);
        tombstones_done(&e->legacy_tombstones);
        free(e->reference_name);
        g_free(e);
        return NULL;
}
