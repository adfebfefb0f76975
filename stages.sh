# The stage runner the pipeline scripts share (toy.sh, study.sh, r1.sh): sourced as `source stages.sh "$@"`.
# It reads the script's flags (--smoke: tiny sizes, --commands: print each stage's command line and run
# nothing, --help: the script's opening comment), sources setup.sh (.venv, set -euo pipefail), and defines
#   start_run MARKER       refuse an $OUT that is not a folder of this script's (MARKER inside), then empty it
#   stage NAME COMMAND...  run one stage: its log $OUT/logs/NAME.log (first line: the command), its seconds
#                          (wall and CPU) appended to $OUT/timings.jsonl; on failure, the log's end
#   side_by_side FUNCTION... run the functions (lanes of stages) in parallel; fail if any fails
#   run_jobs "FUNCTION ARGS"... run the jobs LANES at a time, the next as soon as one ends; fail if any fails
# With --commands every runner prints instead of running, in order.
SMOKE=0
COMMANDS=0
for arg in "$@"; do
  case $arg in
    --smoke) SMOKE=1 ;;
    --commands) COMMANDS=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ {print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "$(basename "$0"): unknown argument $arg (use --smoke, --commands or --help)" >&2; exit 2 ;;
  esac
done
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"   # .venv up to date, on PATH; cd to the repository
LANES=2

start_run() {
  [ $COMMANDS = 1 ] && return 0
  if [ -e "$OUT" ] && [ ! -e "$OUT/$1" ]; then
    echo "$(basename "$0"): $OUT exists and is not a folder of its runs; refusing to overwrite it" >&2
    exit 1
  fi
  rm -rf "$OUT"
  mkdir -p "$OUT/logs"
  touch "$OUT/$1"
}

stage() {
  local name=$1 wall user sys
  shift
  if [ $COMMANDS = 1 ]; then echo "$*"; return 0; fi
  echo "[$(date +%T)] $name: $*"
  echo "$*" > "$OUT/logs/$name.log"
  if ! { TIMEFORMAT="%R %U %S"; time "$@" >> "$OUT/logs/$name.log" 2>&1; } 2> "$OUT/logs/$name.time"; then
    echo "$(basename "$0"): stage $name failed; the end of $OUT/logs/$name.log:" >&2
    tail -n 30 "$OUT/logs/$name.log" >&2
    return 1
  fi
  read -r wall user sys < "$OUT/logs/$name.time"
  echo "{\"stage\": \"$name\", \"wall_s\": $wall, \"cpu_s\": $(awk "BEGIN {print $user + $sys}")}" \
    >> "$OUT/timings.jsonl"
  echo "[$(date +%T)] $name done in $wall s"
}

side_by_side() {
  local pids=() status=0 lane
  for lane in "$@"; do
    if [ $COMMANDS = 1 ]; then "$lane"; else "$lane" & pids+=($!); fi
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  return $status
}

run_jobs() {
  local running=0 status=0 job
  for job in "$@"; do
    if [ $COMMANDS = 1 ]; then $job; continue; fi
    if [ $running -ge $LANES ]; then wait -n || status=1; running=$((running - 1)); fi
    $job &
    running=$((running + 1))
  done
  while [ $running -gt 0 ]; do wait -n || status=1; running=$((running - 1)); done
  return $status
}
