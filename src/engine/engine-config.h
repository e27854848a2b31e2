/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The configuration (SPEC §5) as the engine takes it: one mapping shared by
 * shotsyncd, shotsync-sim --expect and the benches, so that the simulator
 * predicts what the daemon decides. Pure: no I/O. */

#include "config.h"
#include "engine.h"

EngineParams engine_params_from_config(const Config *c);
/* Kinds, expected, and ClockOffsetSec= of a camera added or reloaded. */
int engine_configure_camera(Engine *e, uint32_t camera, const CameraConfig *cc);
/* ClockOffsetSec= alone (cc NULL: none); 1 when it changed. */
int engine_configure_camera_clock(Engine *e, uint32_t camera, const CameraConfig *cc);
