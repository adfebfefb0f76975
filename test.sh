#!/usr/bin/env bash
# The test suite (CPU, toy configs): bash test.sh [pytest args]
source "$(dirname "$0")/setup.sh"
# one thread per process: the multi-process tests would otherwise oversubscribe the cores
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
python -m pytest "$@"
