#!/bin/sh
# Nightly drift audit: scan the cluster, compare with the last complete scan,
# and keep this report as the next night's baseline.
#
# Exit codes: 0 no new failure since the baseline (the first run, which has no
# baseline: no failure at all); 1 new failures (listed first in the terminal
# report and marked "drift": "new" in the JSON); 2 bad input (nothing
# scanned); 3 incomplete: hosts could not be scanned or rules could not be
# evaluated (the baseline is then kept as it was, so a host that is down for a
# night does not turn into "resolved" findings that come back as "new" the
# night after); 130 interrupted.
#
# Settings (environment):
#   KAUDIT_STATE_DIR      baseline and reports           (default /var/lib/kaudit)
#   KAUDIT_PROFILE        profile name or file           (default prod-ha)
#   KAUDIT_INVENTORY      inventory to scan over SSH     (default /etc/kaudit/hosts.txt)
#   KAUDIT_FACTS          a saved fact file to evaluate instead of an inventory
#   KAUDIT_WAIVERS        waivers file, used when it exists (default /etc/kaudit/waivers.yaml)
#   KAUDIT_TEXTFILE_DIR   node_exporter textfile collector directory (optional)
#   KAUDIT_KEEP_DAYS      days of dated reports to keep  (default 30)
#   KAUDIT                the kaudit command             (default kaudit)
#   KAUDIT_EXTRA_ARGS     more scan options, split on spaces (e.g. "--sudo -j 20")
# An argument, if given, is used as KAUDIT_FACTS.
set -u

state=${KAUDIT_STATE_DIR:-/var/lib/kaudit}
profile=${KAUDIT_PROFILE:-prod-ha}
inventory=${KAUDIT_INVENTORY:-/etc/kaudit/hosts.txt}
facts=${1:-${KAUDIT_FACTS:-}}
waivers=${KAUDIT_WAIVERS:-/etc/kaudit/waivers.yaml}
keep=${KAUDIT_KEEP_DAYS:-30}
kaudit=${KAUDIT:-kaudit}

mkdir -p "$state/reports" || exit 2
stamp=$(date -u +%Y%m%dT%H%M%SZ)-$$
report="$state/reports/kaudit-$stamp.json"
baseline="$state/last.json"
last_facts="$state/last-facts.json"

# Build the argument list with `set --` so paths with spaces stay whole.
if [ -n "$facts" ]; then
    set -- --facts "$facts"
else
    set -- "$inventory" --save-facts "$state/reports/facts-$stamp.json"
fi
if [ -f "$last_facts" ]; then
    # Counters (etcd leader changes) are compared with the last complete night.
    set -- "$@" --baseline-facts "$last_facts"
fi
set -- "$@" --profile "$profile" --no-progress \
    -r terminal -r "json:$report" -r "junit:$state/reports/kaudit-$stamp.xml" \
    -r "html:$state/reports/kaudit-$stamp.html"
if [ -f "$waivers" ]; then
    set -- "$@" --waivers "$waivers"
fi
if [ -f "$baseline" ]; then
    set -- "$@" --baseline "$baseline" --fail-on-drift
fi
if [ -n "${KAUDIT_TEXTFILE_DIR:-}" ]; then
    # node_exporter reads *.prom; kaudit writes it atomically.
    set -- "$@" -r "prometheus:$KAUDIT_TEXTFILE_DIR/kaudit.prom"
fi

# shellcheck disable=SC2086  # KAUDIT and KAUDIT_EXTRA_ARGS are word lists on purpose
$kaudit scan "$@" ${KAUDIT_EXTRA_ARGS:-}
rc=$?

case $rc in
    0|1)
        # A complete scan becomes the next baseline (copy, then atomic rename).
        cp "$report" "$baseline.tmp" && mv "$baseline.tmp" "$baseline"
        if [ -z "$facts" ]; then
            cp "$state/reports/facts-$stamp.json" "$last_facts.tmp" &&
                mv "$last_facts.tmp" "$last_facts"
        fi
        ;;
    *)
        echo "kaudit nightly: scan exited $rc; baseline $baseline kept" >&2
        ;;
esac

find "$state/reports" -type f -name 'kaudit-*' -mtime +"$keep" -exec rm -f {} + 2>/dev/null
find "$state/reports" -type f -name 'facts-*' -mtime +"$keep" -exec rm -f {} + 2>/dev/null
exit "$rc"
