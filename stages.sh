# Sourced by toy.sh and r1.sh after setup.sh: the stage runner. Needs RUN (the script's name, e.g. toy.sh),
# OUT (the run folder) and COMMANDS (1: print each stage's command line and run nothing).
#   stage NAME COMMAND...   run it, log to $OUT/logs/NAME.log (first line: the command), append its seconds
#                           (wall and CPU) to $OUT/timings.jsonl; on failure show the log's end and fail
#   side_by_side LANE...    run the lanes (shell functions of stages) in parallel; fail if any fails
# A run folder is marked as the script's own ($OUT/.<script>-run): another folder is never overwritten.
if [ $COMMANDS = 1 ]; then  # the command lines only, in order (the lanes one after the other)
  stage() { shift; echo "$*"; }
  side_by_side() { for lane in "$@"; do "$lane"; done; }
  return 0
fi
MARK="$OUT/.${RUN%.sh}-run"
if [ -e "$OUT" ] && [ ! -e "$MARK" ]; then
  echo "$RUN: $OUT exists and was not written by $RUN; refusing to overwrite it" >&2; exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT/logs"
touch "$MARK"

stage() {
  local name=$1 wall user sys
  shift
  echo "[$(date +%T)] $name: $*"
  echo "$*" > "$OUT/logs/$name.log"
  if ! { TIMEFORMAT="%R %U %S"; time "$@" >> "$OUT/logs/$name.log" 2>&1; } 2> "$OUT/logs/$name.time"; then
    echo "$RUN: stage $name failed; the end of $OUT/logs/$name.log:" >&2
    tail -n 30 "$OUT/logs/$name.log" >&2
    return 1
  fi
  read -r wall user sys < "$OUT/logs/$name.time"
  echo "{\"stage\": \"$name\", \"wall_s\": $wall, \"cpu_s\": $(awk "BEGIN {print $user + $sys}")}" \
    >> "$OUT/timings.jsonl"
  echo "[$(date +%T)] $name done in $wall s"
}

side_by_side() {
  local pids=() status=0
  for lane in "$@"; do "$lane" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  return $status
}
