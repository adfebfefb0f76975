#!/usr/bin/env bash
# The test suite (CPU, toy configs): bash test.sh [pytest args]
source "$(dirname "$0")/setup.sh"
python -m pytest "$@"
