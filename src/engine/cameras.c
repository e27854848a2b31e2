/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Cameras and their (camera, kind) slots: the table the engine grows as
 * folders appear, and the bitmaps that say which slots a shot holds. */

#include "engine-internal.h"

EngineCamera *eng_camera_get(const Engine *e, uint32_t c) {
        return c < e->cameras->len ? e->cameras->pdata[c] : NULL;
}

void eng_camera_free(void *p) {
        EngineCamera *c = p;
        if (!c)
                return;
        free(c->name);
        free(c);
}

int engine_add_camera(Engine *e, const char *name, unsigned n_kinds, bool expected, uint32_t *ret) {
        if (isempty(name) || n_kinds == 0 || n_kinds > UINT16_MAX)
                return -EINVAL;
        if (g_hash_table_contains(e->camera_by_name, name))
                return -EEXIST;
        if (e->cameras->len >= ENGINE_NO_CAMERA - 1)
                return -E2BIG;

        EngineCamera *c = g_new0(EngineCamera, 1);
        c->name = xstrdup(name);
        c->n_kinds = (uint16_t) n_kinds;
        c->expected = expected;
        c->first_slot = e->n_slots;
        e->n_slots += n_kinds;

        uint32_t idx = e->cameras->len;
        g_ptr_array_add(e->cameras, c);
        g_hash_table_insert(e->camera_by_name, c->name, GUINT_TO_POINTER(idx + 1));
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

int engine_update_camera(Engine *e, uint32_t camera, unsigned n_kinds, bool expected) {
        EngineCamera *c = eng_camera_get(e, camera);
        if (!c)
                return -ENOENT;
        if (n_kinds == 0 || n_kinds > UINT16_MAX)
                return -EINVAL;
        if (n_kinds != c->n_kinds) {
                /* Fresh slots, so that open shots keep meaning what they meant. */
                c->first_slot = e->n_slots;
                e->n_slots += n_kinds;
                c->n_kinds = (uint16_t) n_kinds;
        }
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
        return c ? c->n_kinds : 0;
}

bool engine_camera_expected(const Engine *e, uint32_t camera) {
        EngineCamera *c = eng_camera_get(e, camera);
        return c && c->expected;
}

bool eng_slot_of(const Engine *e, uint32_t camera, unsigned kind, uint32_t *ret) {
        EngineCamera *c = eng_camera_get(e, camera);
        if (!c || kind >= c->n_kinds)
                return false;
        *ret = c->first_slot + kind;
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

bool shot_has_slot(const Shot *s, const Engine *e, uint32_t camera, unsigned kind) {
        uint32_t slot;
        return eng_slot_of(e, camera, kind, &slot) && eng_slot_test(s, slot);
}

bool shot_camera_present(const Shot *s, const Engine *e, uint32_t camera) {
        EngineCamera *c = eng_camera_get(e, camera);
        if (!c)
                return false;
        for (unsigned k = 0; k < c->n_kinds; k++)
                if (!eng_slot_test(s, c->first_slot + k))
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
