/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Cameras, their kinds and the (camera, kind) slots that shots fill.
 *
 * A kind is known by its identity (the adapter's text for it, e.g. the
 * normalised patterns "*.tif|*.tiff"), and each (camera, identity) pair has
 * one slot for the engine's whole life. A camera's layout is the ordered list
 * of the slots of its kinds: a reload that changes Files= gives the camera a
 * new layout, and a shot keeps the layouts of the configuration it opened
 * with (SPEC §2 rule 17), so slots never change meaning under a live shot. */

#include "engine-internal.h"

/* ---- layouts ---- */

static EngineLayout *layout_new(uint16_t n_kinds) {
        EngineLayout *l = g_malloc(sizeof(EngineLayout) + n_kinds * sizeof(uint32_t));
        l->ref = 1;
        l->n_kinds = n_kinds;
        l->ids = g_new0(const char *, MAX(n_kinds, 1u));
        return l;
}

EngineLayout *eng_layout_ref(EngineLayout *l) {
        if (l)
                l->ref++;
        return l;
}

void eng_layout_unref(EngineLayout *l) {
        if (l && --l->ref == 0) {
                g_free(l->ids);
                g_free(l);
        }
}

int eng_layout_kind_of(const EngineLayout *l, uint32_t slot) {
        for (uint16_t k = 0; k < l->n_kinds; k++)
                if (l->slots[k] == slot)
                        return k;
        return -1;
}

static bool layout_equal(const EngineLayout *a, const EngineLayout *b) {
        if (a->n_kinds != b->n_kinds || memcmp(a->slots, b->slots, a->n_kinds * sizeof(uint32_t)) != 0)
                return false;
        for (uint16_t k = 0; k < a->n_kinds; k++)
                if (!streq(a->ids[k], b->ids[k]))
                        return false;
        return true;
}

static EngineLayoutSet *layout_set_new(uint32_t n) {
        EngineLayoutSet *set = g_malloc0(sizeof(EngineLayoutSet) + n * sizeof(EngineLayout *));
        set->ref = 1;
        set->n = n;
        return set;
}

EngineLayoutSet *eng_layout_set_ref(EngineLayoutSet *set) {
        if (set)
                set->ref++;
        return set;
}

void eng_layout_set_unref(EngineLayoutSet *set) {
        if (!set || --set->ref > 0)
                return;
        for (uint32_t i = 0; i < set->n; i++)
                eng_layout_unref(set->v[i]);
        g_free(set);
}

/* The layouts every camera has now, shared by the shots that open until the
 * next change: a shot costs one pointer, not one per camera. */
EngineLayoutSet *eng_current_layouts(Engine *e) {
        if (!e->current) {
                EngineLayoutSet *set = layout_set_new(e->cameras->len);
                for (uint32_t i = 0; i < e->cameras->len; i++)
                        set->v[i] = eng_layout_ref(((EngineCamera *) e->cameras->pdata[i])->layout);
                e->current = set;
        }
        return e->current;
}

static void invalidate_current(Engine *e) {
        eng_layout_set_unref(e->current);
        e->current = NULL;
}

/* A camera that appeared after a shot opened is held to the kinds it had
 * when it appeared. */
const EngineLayout *eng_shot_layout(const Engine *e, const Shot *s, uint32_t camera) {
        if (s->layouts && camera < s->layouts->n)
                return s->layouts->v[camera];
        EngineCamera *c = eng_camera_get(e, camera);
        return c ? c->first_layout : NULL;
}

/* ---- kinds ---- */

/* Whether two kind ids ('|'-joined alternatives) share an alternative. */
static bool kinds_overlap(const char *a, const char *b) {
        g_auto(GStrv) x = g_strsplit(a, "|", -1);
        g_auto(GStrv) y = g_strsplit(b, "|", -1);
        for (char **p = x; *p; p++)
                if (g_strv_contains((const char *const *) y, *p))
                        return true;
        return false;
}

static bool slot_taken(const EngineLayout *l, unsigned n, uint32_t slot) {
        for (unsigned k = 0; k < n; k++)
                if (l->slots[k] == slot)
                        return true;
        return false;
}

/* The slot of kind id for c: the one it had; or, for a kind whose patterns
 * were widened or narrowed (it shares an alternative with exactly one kind
 * the camera had), that kind's; or a new one. l holds the n slots of the
 * layout being made, which a slot may only appear in once. *ret_id: the
 * camera's copy of id. */
static uint32_t kind_slot(Engine *e, EngineCamera *c, const char *id, const EngineLayout *l, unsigned n,
                          const char **ret_id) {
        for (guint i = 0; i < c->kind_ids->len; i++)
                if (streq(c->kind_ids->pdata[i], id)) {
                        uint32_t slot = g_array_index(c->kind_slots, uint32_t, i);
                        if (!slot_taken(l, n, slot)) {
                                *ret_id = c->kind_ids->pdata[i];
                                return slot;
                        }
                }
        int match = -1;
        for (guint i = 0; i < c->kind_ids->len; i++) {
                uint32_t slot = g_array_index(c->kind_slots, uint32_t, i);
                if (slot_taken(l, n, slot) || !kinds_overlap(c->kind_ids->pdata[i], id))
                        continue;
                if (match >= 0 && g_array_index(c->kind_slots, uint32_t, match) != slot) {
                        match = -2; /* ambiguous: a kind of its own */
                        break;
                }
                if (match == -1)
                        match = (int) i;
        }
        uint32_t slot = match >= 0 ? g_array_index(c->kind_slots, uint32_t, match) : e->n_slots++;
        char *copy = g_strdup(id);
        g_ptr_array_add(c->kind_ids, copy);
        g_array_append_val(c->kind_slots, slot);
        *ret_id = copy;
        return slot;
}


static int check_kinds(const char *const *kinds, unsigned n_kinds) {
        if (n_kinds == 0 || n_kinds > UINT16_MAX)
                return -EINVAL;
        for (unsigned i = 0; kinds && i < n_kinds; i++) {
                if (isempty(kinds[i]))
                        return -EINVAL;
                for (unsigned j = 0; j < i; j++)
                        if (streq(kinds[i], kinds[j]))
                                return -EINVAL;
        }
        return 0;
}

/* The layout of these kinds for c: its slots in order. kinds NULL means
 * kinds known only by position ("1", "2", …). */
EngineLayout *eng_layout_for(Engine *e, EngineCamera *c, const char *const *kinds, unsigned n_kinds) {
        EngineLayout *l = layout_new((uint16_t) n_kinds);
        for (unsigned k = 0; k < n_kinds; k++) {
                char pos[16];
                if (!kinds)
                        g_snprintf(pos, sizeof pos, "%u", k + 1);
                l->slots[k] = kind_slot(e, c, kinds ? kinds[k] : pos, l, k, &l->ids[k]);
        }
        if (c->layout && layout_equal(l, c->layout)) {
                eng_layout_unref(l);
                return eng_layout_ref(c->layout);
        }
        return l;
}

/* ---- cameras ---- */

EngineCamera *eng_camera_get(const Engine *e, uint32_t c) {
        return c < e->cameras->len ? e->cameras->pdata[c] : NULL;
}

void eng_camera_free(void *p) {
        EngineCamera *c = p;
        if (!c)
                return;
        eng_layout_unref(c->layout);
        eng_layout_unref(c->first_layout);
        g_ptr_array_unref(c->kind_ids);
        g_array_unref(c->kind_slots);
        free(c->name);
        free(c);
}

int engine_add_camera(Engine *e, const char *name, const char *const *kinds, unsigned n_kinds, bool expected,
                      uint32_t *ret) {
        if (isempty(name) || check_kinds(kinds, n_kinds) < 0)
                return -EINVAL;
        if (g_hash_table_contains(e->camera_by_name, name))
                return -EEXIST;
        if (e->cameras->len >= ENGINE_NO_CAMERA - 1)
                return -E2BIG;

        EngineCamera *c = g_new0(EngineCamera, 1);
        c->name = xstrdup(name);
        c->expected = expected;
        c->kind_ids = g_ptr_array_new_with_free_func(g_free);
        c->kind_slots = g_array_new(false, false, sizeof(uint32_t));
        c->layout = eng_layout_for(e, c, kinds, n_kinds);
        c->first_layout = eng_layout_ref(c->layout);
        clock_reset(&c->clock, false, 0);

        uint32_t idx = e->cameras->len;
        g_ptr_array_add(e->cameras, c);
        g_hash_table_insert(e->camera_by_name, c->name, GUINT_TO_POINTER(idx + 1));
        if (streq_ptr(name, e->reference_name))
                e->reference = idx;
        invalidate_current(e);
        if (ret)
                *ret = idx;
        return 0;
}

int engine_find_camera(const Engine *e, const char *name, uint32_t *ret) {
        void *v = g_hash_table_lookup(e->camera_by_name, name);
        if (!v)
                return -ENOENT;
        if (ret)
                *ret = GPOINTER_TO_UINT(v) - 1;
        return 0;
}

int engine_update_camera(Engine *e, uint32_t camera, const char *const *kinds, unsigned n_kinds, bool expected) {
        EngineCamera *c = eng_camera_get(e, camera);
        if (!c)
                return -ENOENT;
        if (!kinds && n_kinds == 0) {
                if (expected != c->expected)
                        invalidate_current(e);
                c->expected = expected;
                return 0;
        }
        if (check_kinds(kinds, n_kinds) < 0)
                return -EINVAL;
        EngineLayout *l = eng_layout_for(e, c, kinds, n_kinds);
        if (l != c->layout || expected != c->expected)
                invalidate_current(e);
        eng_layout_unref(c->layout);
        c->layout = l;
        c->expected = expected;
        return 0;
}

uint32_t engine_n_cameras(const Engine *e) {
        return e->cameras->len;
}

const char *engine_camera_name(const Engine *e, uint32_t camera) {
        EngineCamera *c = eng_camera_get(e, camera);
        return c ? c->name : NULL;
}

unsigned engine_camera_n_kinds(const Engine *e, uint32_t camera) {
        EngineCamera *c = eng_camera_get(e, camera);
        return c ? c->layout->n_kinds : 0;
}

bool engine_camera_expected(const Engine *e, uint32_t camera) {
        EngineCamera *c = eng_camera_get(e, camera);
        return c && c->expected;
}

bool eng_slot_of(const Engine *e, uint32_t camera, unsigned kind, uint32_t *ret) {
        EngineCamera *c = eng_camera_get(e, camera);
        if (!c || kind >= c->layout->n_kinds)
                return false;
        *ret = c->layout->slots[kind];
        return true;
}

bool eng_slot_test(const Shot *s, uint32_t slot) {
        uint32_t w = slot / 64;
        return w < s->n_slot_words && (s->slots[w] >> (slot % 64)) & 1;
}

void eng_slot_set(Shot *s, uint32_t slot) {
        uint32_t w = slot / 64;
        if (w >= s->n_slot_words) {
                uint32_t n = MAX(w + 1, s->n_slot_words * 2);
                s->slots = g_renew(uint64_t, s->slots, n);
                memset(s->slots + s->n_slot_words, 0, (n - s->n_slot_words) * sizeof(uint64_t));
                s->n_slot_words = n;
        }
        s->slots[w] |= UINT64_C(1) << (slot % 64);
}

/* ---- what a shot holds ---- */

unsigned shot_camera_n_kinds(const Shot *s, const Engine *e, uint32_t camera) {
        const EngineLayout *l = eng_shot_layout(e, s, camera);
        return l ? l->n_kinds : 0;
}

const char *shot_camera_kind_id(const Shot *s, const Engine *e, uint32_t camera, unsigned kind) {
        const EngineLayout *l = eng_shot_layout(e, s, camera);
        return l && kind < l->n_kinds ? l->ids[kind] : NULL;
}

bool shot_has_kind(const Shot *s, const Engine *e, uint32_t camera, unsigned kind) {
        const EngineLayout *l = eng_shot_layout(e, s, camera);
        return l && kind < l->n_kinds && eng_slot_test(s, l->slots[kind]);
}

bool shot_camera_present(const Shot *s, const Engine *e, uint32_t camera) {
        const EngineLayout *l = eng_shot_layout(e, s, camera);
        if (!l)
                return false;
        for (uint16_t k = 0; k < l->n_kinds; k++)
                if (!eng_slot_test(s, l->slots[k]))
                        return false;
        return true;
}

bool eng_shot_expects(const Shot *s, uint32_t camera) {
        uint32_t lo = 0, hi = s->n_expected;
        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (s->expected[mid] == camera)
                        return true;
                if (s->expected[mid] < camera)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}

uint32_t shot_missing(const Shot *s, const Engine *e, uint32_t *ret, uint32_t n_max) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < s->n_expected && n < n_max; i++)
                if (!shot_camera_present(s, e, s->expected[i]))
                        ret[n++] = s->expected[i];
        return n;
}
