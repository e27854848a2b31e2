/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "engine-config.h"

EngineParams engine_params_from_config(const Config *c) {
        return (EngineParams) {
                .window = (nsec_t) (c->full_window_sec * 1e9),
                .timeout = (usec_t) (c->timeout_sec * 1e6),
                .late_grace = (usec_t) (c->late_grace_sec * 1e6),
                .keep_unassigned = (usec_t) (c->orphan_keep_sec * 1e6),
                .learn_offsets = c->learn_clock_offsets,
                .min_shot_interval = (nsec_t) (c->min_shot_interval_sec * 1e9),
        };
}

int engine_configure_camera_clock(Engine *e, uint32_t camera, const CameraConfig *cc) {
        bool set = cc && cc->clock_offset_set;
        double ns = set ? cc->clock_offset_sec * 1e9 : 0;
        return engine_set_camera_clock(e, camera, set, (nsec_t) (ns < 0 ? ns - 0.5 : ns + 0.5));
}

int engine_configure_camera(Engine *e, uint32_t camera, const CameraConfig *cc) {
        g_autofree const char **kinds = config_camera_kind_ids(cc);
        int r = engine_update_camera(e, camera, kinds, (unsigned) cc->n_kinds, cc->expected);
        if (r < 0)
                return r;
        return engine_configure_camera_clock(e, camera, cc);
}
