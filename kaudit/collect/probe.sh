# kaudit host probe, output format 1.
#
# Run as `sh -s -- [--vip ADDR] [--lb-port N] [--apiserver-port N]` with this
# script on stdin. POSIX sh only (dash, busybox ash, bash). READ-ONLY: it
# writes no file (no redirection to files, no here-documents, which some
# shells back with temp files), starts no daemon (so no timedatectl, which
# would bus-activate systemd-timedated), bounds every slow command in time
# and caps what it reads of any file. Missing commands are tolerated; the
# basic facts come from shell builtins and /proc alone.
#
# Output: first line `KAUDIT-PROBE 1 <epoch>`, then `@@kaudit:section NAME`
# blocks holding `@@kaudit:file PATH` / `@@kaudit:nofile PATH` /
# `@@kaudit:cmd NAME rc=N` / `@@kaudit:nocmd NAME` sub-blocks or key=value
# lines, and a last line `@@kaudit:end <rc>`. Content lines that would look
# like a marker get one extra leading backslash.

kp_ts=$(date +%s.%N 2>/dev/null </dev/null)
case $kp_ts in ''|*[!0-9.]*|.*|*.) kp_ts=$(date +%s 2>/dev/null </dev/null) ;; esac
case $kp_ts in ''|*[!0-9.]*) kp_ts=unknown ;; esac
printf 'KAUDIT-PROBE 1 %s\n' "$kp_ts"

KP_CAP=262144        # bytes read of any one file or command output
KP_LINES=20000       # lines read by the builtin-only fallback reader
KP_BUDGET=15         # seconds after which optional slow steps are skipped

KP_SYSCTLS='net/ipv4/ip_forward net/bridge/bridge-nf-call-ip6tables
    net/bridge/bridge-nf-call-iptables fs/may_detach_mounts
    net/ipv4/conf/all/route_localnet vm/overcommit_memory vm/panic_on_oom
    fs/inotify/max_user_watches fs/inotify/max_user_instances fs/file-max fs/nr_open
    net/netfilter/nf_conntrack_max net/netfilter/nf_conntrack_count net/ipv4/tcp_keepalive_time
    net/ipv4/tcp_keepalive_probes net/ipv4/tcp_keepalive_intvl
    net/ipv4/tcp_max_tw_buckets net/ipv4/tcp_tw_reuse net/ipv4/tcp_max_orphans
    net/ipv4/tcp_orphan_retries net/ipv4/tcp_syncookies net/ipv4/tcp_max_syn_backlog
    net/ipv4/tcp_timestamps net/core/somaxconn vm/swappiness'

have() { command -v "$1" >/dev/null 2>&1; }

sec() { printf '@@kaudit:section %s\n' "$1"; }

# kp_now: kp_n=<whole seconds>, or empty. The clock is chosen once (main
# sets KP_CLOCK): /proc/uptime read by the read builtin costs no process; date
# is the fallback when /proc/uptime is missing or does not read as a number.
kp_now() {
    kp_n=
    if [ "$KP_CLOCK" = uptime ]; then
        { read -r kp_n kp_x </proc/uptime; } 2>/dev/null
        kp_n=${kp_n%%.*}
    else
        kp_n=$(date +%s 2>/dev/null </dev/null)
    fi
    case $kp_n in ''|*[!0-9]*) kp_n= ;; esac
}

# True while the probe is inside its time budget (always true without date).
budget() {
    kp_now
    [ -n "$kp_n" ] && [ -n "$kp_start" ] || return 0
    [ $((kp_n - kp_start)) -lt "$KP_BUDGET" ]
}

# t SECONDS CMD...: run CMD bounded in time when a timeout command exists.
t() {
    kp_s=$1
    shift
    case $KP_TO in
        plain) timeout "$kp_s" "$@" ;;
        busybox) timeout -t "$kp_s" "$@" ;;
        *) "$@" ;;
    esac
}

# Builtin-only reader: used when head or sed is missing.
kp_readloop() {
    kp_c=0
    while IFS= read -r kp_l || [ -n "$kp_l" ]; do
        kp_c=$((kp_c + 1))
        [ "$kp_c" -gt "$KP_LINES" ] && break
        case $kp_l in
            @@kaudit:*|\\*@@kaudit:*) printf '\\%s\n' "$kp_l" ;;
            *) printf '%s\n' "$kp_l" ;;
        esac
    done
}

kp_escape() {
    if [ -n "$KP_SED" ]; then
        sed 's/^\(\\*@@kaudit:\)/\\\1/'
    else
        kp_readloop
    fi
}

# kp_print TEXT: print TEXT (already capped) and a newline, escaping
# marker-like lines; builtins only unless TEXT holds a marker.
kp_print() {
    case $1 in
        *@@kaudit:*) printf '%s\n' "$1" | kp_escape ;;
        *) printf '%s\n' "$1" ;;
    esac
}

# rd FILE: print FILE (capped) framed by a file marker, or say it is absent.
rd() {
    if [ -f "$1" ] && [ -r "$1" ]; then
        printf '@@kaudit:file %s\n' "$1"
        if [ -n "$KP_HEAD" ]; then
            # One process (head) for the usual file; sed only when a line
            # might look like a marker. $(...) drops trailing newlines.
            kp_o=$(head -c "$KP_CAP" -- "$1" 2>/dev/null)
            [ -z "$kp_o" ] || kp_print "$kp_o"
        else
            kp_readloop <"$1"
        fi
        printf '\n'
    elif [ -e "$1" ] || [ -L "$1" ]; then
        printf '@@kaudit:unreadable %s\n' "$1"
    else
        printf '@@kaudit:nofile %s\n' "$1"
    fi
}

# rdred FILE: like rd, but a line that looks like it holds a secret keeps
# only its indentation and first word, so no password reaches a report.
rdred() {
    if [ -f "$1" ] && [ -r "$1" ]; then
        printf '@@kaudit:file %s\n' "$1"
        kp_c=0
        while IFS= read -r kp_l || [ -n "$kp_l" ]; do
            kp_c=$((kp_c + 1))
            [ "$kp_c" -gt "$KP_LINES" ] && break
            case $kp_l in
                *[Pp][Aa][Ss][Ss]*|*[Ss][Ee][Cc][Rr][Ee][Tt]*|*[Tt][Oo][Kk][Ee][Nn]*|\
                *[Uu][Ss][Ee][Rr][Nn][Aa][Mm][Ee]*|*stats*auth*|auth[\ \	=]*|\
                *[\ \	]auth[\ \	=]*)
                    kp_i=${kp_l%%[! 	]*}
                    kp_r=${kp_l#"$kp_i"}
                    kp_w=${kp_r%%[ 	=]*}
                    printf '%s%s <redacted>\n' "$kp_i" "$kp_w" ;;
                @@kaudit:*|\\*@@kaudit:*) printf '\\%s\n' "$kp_l" ;;
                *) printf '%s\n' "$kp_l" ;;
            esac
        done <"$1"
        printf '\n'
    elif [ -e "$1" ]; then
        printf '@@kaudit:unreadable %s\n' "$1"
    else
        printf '@@kaudit:nofile %s\n' "$1"
    fi
}

# rdglob PATTERN...: rd every existing file matching the patterns (max 64).
rdglob() {
    kp_g=0
    for kp_f in "$@"; do
        [ -f "$kp_f" ] || continue
        kp_g=$((kp_g + 1))
        [ "$kp_g" -gt 64 ] && break
        rd "$kp_f"
    done
}

# rdcerts FILE: only the CERTIFICATE blocks of a PEM file. A file that also
# holds a private key (kubelet-client-current.pem) never sends the key: lines
# outside BEGIN/END CERTIFICATE are not printed at all.
rdcerts() {
    if [ -f "$1" ] && [ -r "$1" ]; then
        printf '@@kaudit:file %s\n' "$1"
        kp_c=0
        kp_in=0
        while IFS= read -r kp_l || [ -n "$kp_l" ]; do
            kp_c=$((kp_c + 1))
            [ "$kp_c" -gt "$KP_LINES" ] && break
            case $kp_l in
                '-----BEGIN CERTIFICATE-----'*) kp_in=1; printf '%s\n' "$kp_l" ;;
                '-----END CERTIFICATE-----'*) [ "$kp_in" = 1 ] && printf '%s\n' "$kp_l"; kp_in=0 ;;
                *[!A-Za-z0-9+/=]*) kp_in=0 ;;
                *) [ "$kp_in" = 1 ] && printf '%s\n' "$kp_l" ;;
            esac
        done <"$1"
        printf '\n'
    elif [ -e "$1" ]; then
        printf '@@kaudit:unreadable %s\n' "$1"
    fi
}

# rdkubecerts FILE: only the certificate fields of a kubeconfig
# (certificate-authority-data, client-certificate-data, client-certificate);
# client-key-data and tokens are never printed.
rdkubecerts() {
    if [ -f "$1" ] && [ -r "$1" ]; then
        printf '@@kaudit:file %s\n' "$1"
        kp_c=0
        while IFS= read -r kp_l || [ -n "$kp_l" ]; do
            kp_c=$((kp_c + 1))
            [ "$kp_c" -gt "$KP_LINES" ] && break
            case $kp_l in
                *client-key*|*token*|*password*) ;;
                *certificate-authority-data:*|*client-certificate-data:*|*client-certificate:*)
                    printf '%s\n' "$kp_l" ;;
            esac
        done <"$1"
        printf '\n'
    elif [ -e "$1" ]; then
        printf '@@kaudit:unreadable %s\n' "$1"
    fi
}

# rdflag FILE FLAG: kp_fv = the value of --FLAG=VALUE in a static pod manifest.
rdflag() {
    kp_fv=
    [ -r "$1" ] || return 0
    while IFS= read -r kp_l || [ -n "$kp_l" ]; do
        case $kp_l in
            *--"$2"=*) kp_fv=${kp_l#*--"$2"=}; kp_fv=${kp_fv%%[\"\' ]*}; break ;;
        esac
    done <"$1"
}

# cmd NAME SECONDS CMD...: run CMD (stdin /dev/null, stderr merged) bounded
# in time and output, framed by a marker carrying its exit status.
cmd() {
    kp_name=$1
    kp_secs=$2
    shift 2
    if ! have "$1"; then
        printf '@@kaudit:nocmd %s\n' "$kp_name"
        return 0
    fi
    if ! budget; then
        printf '@@kaudit:skipped %s\n' "$kp_name"
        return 0
    fi
    kp_out=$(t "$kp_secs" "$@" 2>&1 </dev/null)
    kp_rc=$?
    printf '@@kaudit:cmd %s rc=%s\n' "$kp_name" "$kp_rc"
    # ${#} may count characters, not bytes: a quarter of the cap is surely
    # under it. Longer output is capped by head.
    if [ "${#kp_out}" -le $((KP_CAP / 4)) ]; then
        kp_print "$kp_out"
    elif [ -n "$KP_HEAD" ]; then
        printf '%s\n' "$kp_out" | head -c "$KP_CAP" | kp_escape
    else
        printf '%s\n' "$kp_out" | kp_readloop
    fi
}

# First lines of many small files (sysctls, /sys attributes) come from one
# `head -n 1` over all of them instead of one head each: kp_heads FILE... keeps
# head's `==> FILE <==` records in kp_hv, and r1 takes them in the same order.
# /dev/null first makes head print a header even for a single file.
kp_nl='
'
kp_heads() {
    kp_hv=
    [ -n "$KP_HEAD" ] && [ $# -gt 0 ] || return 0
    kp_hv=$(head -n 1 -- /dev/null "$@" 2>/dev/null)
    kp_hv=${kp_hv#"==> /dev/null <==$kp_nl$kp_nl"}
}

# r1 FILE: kp_v=<first line of FILE>. head when present: the read builtin
# reads byte by byte, which some kernels' pseudo-files (gVisor) answer wrongly.
# The next kp_heads record when it is FILE's; otherwise head on FILE itself
# (counted in kp_miss when FILE is readable: the prefetch list is out of order).
r1() {
    kp_v=
    case $kp_hv in
        "==> $1 <==$kp_nl"*)
            kp_hv=${kp_hv#"==> $1 <==$kp_nl"}
            case $kp_hv in
                *"$kp_nl"*) kp_v=${kp_hv%%"$kp_nl"*}; kp_hv=${kp_hv#*"$kp_nl"} ;;
                *) kp_v=$kp_hv; kp_hv= ;;
            esac
            kp_hv=${kp_hv#"$kp_nl"}
            return 0 ;;
        "==> $1 <==") kp_hv=; return 0 ;;
    esac
    [ -r "$1" ] && kp_miss=$((kp_miss + 1))
    if [ -n "$KP_HEAD" ]; then
        kp_v=$(head -n 1 -- "$1" 2>/dev/null)
    else
        { IFS= read -r kp_v <"$1"; } 2>/dev/null
    fi
}

# kv KEY FILE: print KEY=<first line of FILE> when FILE is readable.
kv() {
    if [ -r "$2" ]; then
        r1 "$2"
        printf '%s=%s\n' "$1" "$kp_v"
    fi
}

kp_valid_addr() {
    case $1 in ''|*[!0-9a-fA-F.:]*) return 1 ;; esac
    [ ${#1} -le 45 ]
}

kp_valid_port() {
    case $1 in ''|*[!0-9]*) return 1 ;; esac
    [ ${#1} -le 5 ] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}

# kp_prefetch: kp_heads over every single-line file main reads through r1/kv,
# in main's order (uname, hostname, cpu, selinux, modules, sysctl, block,
# network) and with the same readability tests, so that r1 finds each record
# next in line.
kp_prefetch() {
    set --
    [ -r /proc/sys/kernel/osrelease ] && set -- "$@" /proc/sys/kernel/osrelease
    [ -r /proc/sys/kernel/hostname ] && set -- "$@" /proc/sys/kernel/hostname
    [ -r /sys/devices/system/cpu/online ] && set -- "$@" /sys/devices/system/cpu/online
    [ -r /sys/fs/selinux/enforce ] && set -- "$@" /sys/fs/selinux/enforce
    set -- "$@" /proc/sys/kernel/osrelease
    for kp_k in $KP_SYSCTLS; do
        [ -r "/proc/sys/$kp_k" ] && set -- "$@" "/proc/sys/$kp_k"
    done
    kp_c=0
    for kp_d in /sys/block/*; do
        [ -r "$kp_d/dev" ] || continue
        kp_c=$((kp_c + 1))
        [ "$kp_c" -gt 512 ] && break
        set -- "$@" "$kp_d/dev"
        [ -r "$kp_d/queue/rotational" ] && set -- "$@" "$kp_d/queue/rotational"
        [ -r "$kp_d/dm/name" ] && set -- "$@" "$kp_d/dm/name"
        for kp_s in "$kp_d"/*/partition; do
            [ -e "$kp_s" ] && set -- "$@" "${kp_s%/partition}/dev"
        done
    done
    for kp_d in /sys/class/net/*; do
        [ -e "$kp_d" ] && set -- "$@" "$kp_d/mtu" "$kp_d/operstate"
    done
    kp_heads "$@"
}

main() {
    KP_CLOCK=uptime
    kp_now
    [ -n "$kp_n" ] || { KP_CLOCK=date; kp_now; }
    kp_start=$kp_n
    KP_VIP=
    KP_LB=
    KP_API=
    kp_bad=0
    while [ $# -gt 0 ]; do
        case $1 in
            --vip) kp_valid_addr "${2-}" && KP_VIP=$2 || kp_bad=$((kp_bad + 1)); shift ;;
            --lb-port) kp_valid_port "${2-}" && KP_LB=$2 || kp_bad=$((kp_bad + 1)); shift ;;
            --apiserver-port) kp_valid_port "${2-}" && KP_API=$2 || kp_bad=$((kp_bad + 1)); shift ;;
            *) kp_bad=$((kp_bad + 1)) ;;
        esac
        [ $# -gt 0 ] && shift
    done

    KP_HEAD=
    have head && KP_HEAD=1
    kp_miss=0
    kp_hv=
    kp_prefetch
    KP_SED=
    have sed && KP_SED=1
    KP_TO=none
    if have timeout; then
        # `sh -c :` rather than `true`: a busybox timeout needs an executable
        # on PATH, and sh is the one program certain to be there.
        if timeout 1 sh -c : >/dev/null 2>&1 </dev/null; then
            KP_TO=plain
        elif timeout -t 1 sh -c : >/dev/null 2>&1 </dev/null; then
            KP_TO=busybox
        fi
    fi

    sec meta
    kp_uid=
    if have id; then
        kp_uid=$(id -u 2>/dev/null)
    elif [ -r /proc/self/status ]; then
        while read -r kp_k kp_a kp_b kp_x; do
            [ "$kp_k" = "Uid:" ] && kp_uid=$kp_b && break
        done </proc/self/status
    fi
    printf 'uid=%s\n' "$kp_uid"
    printf 'timeout=%s\n' "$KP_TO"
    printf 'head=%s\nsed=%s\n' "${KP_HEAD:-0}" "${KP_SED:-0}"
    printf 'vip=%s\nlb_port=%s\napiserver_port=%s\nbad_args=%s\n' \
        "$KP_VIP" "$KP_LB" "$KP_API" "$kp_bad"
    printf 'nofile_soft=%s\n' "$(ulimit -Sn 2>/dev/null)"
    printf 'nofile_hard=%s\n' "$(ulimit -Hn 2>/dev/null)"

    sec os-release
    if [ -e /etc/os-release ]; then rd /etc/os-release; else rd /usr/lib/os-release; fi

    sec uname
    if have uname; then
        printf 'release=%s\n' "$(uname -r 2>/dev/null)"
        printf 'arch=%s\n' "$(uname -m 2>/dev/null)"
    fi
    kv osrelease /proc/sys/kernel/osrelease

    sec hostname
    kv proc /proc/sys/kernel/hostname
    have hostname && printf 'cmd=%s\n' "$(hostname 2>/dev/null </dev/null)"

    sec cpu
    have nproc && printf 'nproc=%s\n' "$(nproc 2>/dev/null)"
    kv online /sys/devices/system/cpu/online
    if [ -r /proc/cpuinfo ]; then
        kp_p=0
        while IFS= read -r kp_l; do
            case $kp_l in processor*) kp_p=$((kp_p + 1)) ;; esac
        done </proc/cpuinfo
        printf 'cpuinfo=%s\n' "$kp_p"
    fi

    sec meminfo
    rd /proc/meminfo

    sec swap
    # sd_booted(): systemd runs when /run/systemd/system is a directory. Without
    # it, `systemctl list-unit-files` would read every unit file itself (most of
    # a second of CPU), so the probe lists the .swap units linked into the
    # .wants/ and .requires/ directories of /etc/systemd/system instead, which
    # is what "enabled" means there.
    KP_SYSTEMD=0
    [ -d /run/systemd/system ] && KP_SYSTEMD=1
    printf 'systemd=%s\n' "$KP_SYSTEMD"
    if [ "$KP_SYSTEMD" = 0 ]; then
        kp_sl=
        for kp_f in /etc/systemd/system/*.wants/*.swap /etc/systemd/system/*.requires/*.swap; do
            [ -e "$kp_f" ] || [ -L "$kp_f" ] || continue
            case " $kp_sl " in *" ${kp_f##*/} "*) ;; *) kp_sl="$kp_sl${kp_sl:+ }${kp_f##*/}" ;; esac
        done
        printf 'swap_links=%s\n' "$kp_sl"
    fi
    rd /proc/swaps
    rd /etc/fstab
    rdglob /etc/systemd/zram-generator.conf /usr/lib/systemd/zram-generator.conf \
        /etc/systemd/zram-generator.conf.d/*.conf
    if [ "$KP_SYSTEMD" = 1 ]; then
        cmd swap-units 3 systemctl list-unit-files --type=swap --state=enabled --no-legend \
            --no-pager
    fi

    sec selinux
    kv enforce /sys/fs/selinux/enforce
    if [ -d /sys/fs/selinux ]; then echo 'selinuxfs=1'; else echo 'selinuxfs=0'; fi
    cmd getenforce 3 getenforce
    rd /etc/selinux/config

    sec services
    kp_units='firewalld dnsmasq chronyd ntpd ntpsec containerd kubelet haproxy keepalived rsyslog systemd-timesyncd'
    printf 'units=%s\n' "$kp_units"
    # One call for all units; blocks come back in argument order.
    # shellcheck disable=SC2086
    cmd systemctl-show 4 systemctl show --no-pager \
        --property=LoadState,ActiveState,UnitFileState \
        firewalld.service dnsmasq.service chronyd.service ntpd.service ntpsec.service \
        containerd.service kubelet.service haproxy.service keepalived.service \
        rsyslog.service systemd-timesyncd.service

    sec time
    # key=value lines first: in every section they precede the framed blocks.
    if [ -L /etc/localtime ] && have readlink; then
        printf 'localtime=%s\n' "$(readlink /etc/localtime 2>/dev/null)"
    fi
    [ -e /run/systemd/timesync/synchronized ] && echo 'timesyncd_synchronized=1'
    # Only the ntpdate lines of crontabs: other users' jobs are not our business.
    for kp_f in /etc/crontab /etc/cron.d/* /var/spool/cron/* /var/spool/cron/crontabs/*; do
        [ -f "$kp_f" ] && [ -r "$kp_f" ] || continue
        kp_c=0
        while IFS= read -r kp_l || [ -n "$kp_l" ]; do
            kp_c=$((kp_c + 1))
            [ "$kp_c" -gt 2000 ] && break
            case $kp_l in *ntpdate*) printf 'cron %s: %s\n' "$kp_f" "$kp_l" ;; esac
        done <"$kp_f"
    done
    rd /etc/timezone
    # -h 127.0.0.1 makes chronyc ask over UDP instead of binding a client
    # socket file under /run/chrony.
    cmd chronyc-tracking 3 chronyc -n -h 127.0.0.1 tracking
    cmd ntpstat 3 ntpstat
    rd /etc/chrony.conf
    rd /etc/chrony/chrony.conf
    rdglob /etc/chrony/sources.d/*.sources /etc/chrony.d/*.conf
    rd /etc/ntp.conf
    rd /etc/ntpsec/ntp.conf

    sec limits
    rdglob /etc/security/limits.conf /etc/security/limits.d/*.conf

    sec modules
    rd /proc/modules
    r1 /proc/sys/kernel/osrelease
    [ -n "$kp_v" ] && rd "/lib/modules/$kp_v/modules.builtin"
    rdglob /etc/modules-load.d/*.conf /usr/lib/modules-load.d/*.conf /etc/modules

    sec sysctl
    for kp_k in $KP_SYSCTLS; do
        kv "$kp_k" "/proc/sys/$kp_k"
    done

    sec sysctl-files
    rdglob /etc/sysctl.d/*.conf /etc/sysctl.conf

    sec cgroup
    if [ -e /sys/fs/cgroup/cgroup.controllers ]; then echo 'unified=1'; else echo 'unified=0'; fi

    sec mountinfo
    rd /proc/self/mountinfo

    sec paths
    for kp_p in /var/lib/etcd /data /var/lib/kubelet /var/lib/containers /; do
        if [ -e "$kp_p" ]; then
            if have readlink; then
                kp_r=$(readlink -f -- "$kp_p" 2>/dev/null)
            else
                kp_r=$(cd -P -- "$kp_p" 2>/dev/null && pwd -P)
            fi
            kp_lnk=0
            [ -L "$kp_p" ] && kp_lnk=1
            printf 'path %s exists=1 link=%s resolved=%s\n' "$kp_p" "$kp_lnk" "$kp_r"
        else
            printf 'path %s exists=0\n' "$kp_p"
        fi
    done
    for kp_p in /var/lib/etcd /data /var/lib/kubelet /var/lib/containers /; do
        [ -e "$kp_p" ] || continue
        cmd "df $kp_p" 3 df -Pk -- "$kp_p/"
    done

    sec block
    kp_c=0
    for kp_d in /sys/block/*; do
        [ -r "$kp_d/dev" ] || continue
        kp_c=$((kp_c + 1))
        [ "$kp_c" -gt 512 ] && break
        kp_n=${kp_d##*/}
        kp_rot=
        kp_dm=
        kp_sl=
        r1 "$kp_d/dev"
        kp_dv=$kp_v
        [ -r "$kp_d/queue/rotational" ] && r1 "$kp_d/queue/rotational" && kp_rot=$kp_v
        [ -r "$kp_d/dm/name" ] && r1 "$kp_d/dm/name" && kp_dm=$kp_v
        for kp_s in "$kp_d"/slaves/*; do
            [ -e "$kp_s" ] && kp_sl="$kp_sl${kp_sl:+,}${kp_s##*/}"
        done
        printf 'disk %s %s rot=%s slaves=%s dm=%s\n' "$kp_n" "$kp_dv" "$kp_rot" "$kp_sl" "$kp_dm"
        for kp_s in "$kp_d"/*/partition; do
            [ -e "$kp_s" ] || continue
            kp_pd=${kp_s%/partition}
            r1 "$kp_pd/dev"
            printf 'part %s %s parent=%s\n' "${kp_pd##*/}" "$kp_v" "$kp_n"
        done
    done

    sec network
    for kp_d in /sys/class/net/*; do
        [ -e "$kp_d" ] || continue
        r1 "$kp_d/mtu"
        kp_m=$kp_v
        r1 "$kp_d/operstate"
        kp_o=$kp_v
        printf 'if %s mtu=%s state=%s\n' "${kp_d##*/}" "$kp_m" "$kp_o"
    done
    cmd ip-addr 3 ip -o addr show
    cmd ip-route 3 ip -o route show
    cmd ip-route6 3 ip -o -6 route show
    if ! have ip; then
        rd /proc/net/route
    fi

    sec hosts
    rd /etc/hosts

    sec vip
    if [ -n "$KP_VIP" ]; then
        printf 'vip=%s\n' "$KP_VIP"
        if have ping && budget; then
            ping -c 1 -W 1 -- "$KP_VIP" >/dev/null 2>&1 </dev/null
            case $? in 0) echo 'icmp=yes' ;; 1) echo 'icmp=no' ;; *) echo 'icmp=error' ;; esac
        else
            echo 'icmp=unavailable'
        fi
        kp_port=${KP_LB:-16443}
        printf 'tcp_port=%s\n' "$kp_port"
        kp_m=none
        kp_rc=
        if ! budget; then
            kp_m=skipped
        elif [ "$KP_TO" != none ] && have bash; then
            kp_m=bash
            # The address and port travel as arguments, never inside the code.
            t 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' kaudit "$KP_VIP" "$kp_port" \
                >/dev/null 2>&1 </dev/null
            kp_rc=$?
        elif have nc; then
            kp_m=nc
            nc -z -w 2 "$KP_VIP" "$kp_port" >/dev/null 2>&1 </dev/null
            kp_rc=$?
        elif have ncat; then
            kp_m=ncat
            ncat -z -w 2 "$KP_VIP" "$kp_port" >/dev/null 2>&1 </dev/null
            kp_rc=$?
        elif have curl; then
            kp_m=curl
            case $KP_VIP in *:*) kp_h="[$KP_VIP]" ;; *) kp_h=$KP_VIP ;; esac
            # Any answer (even a TLS or HTTP error) proves the port accepts
            # connections; 7 is refused, 28 a timeout, 1-6 could not try.
            curl -sk --connect-timeout 2 -m 3 "https://$kp_h:$kp_port/healthz" \
                >/dev/null 2>&1 </dev/null
            kp_rc=$?
            case $kp_rc in 7|28) ;; [1-6]) kp_rc= ;; *) kp_rc=0 ;; esac
        fi
        printf 'tcp_method=%s\n' "$kp_m"
        case $kp_rc in '') echo 'tcp=unknown' ;; 0) echo 'tcp=open' ;; *) echo 'tcp=closed' ;; esac
    fi

    sec kubernetes
    if [ -d /etc/kubernetes/manifests ]; then echo 'manifests_dir=1'; else echo 'manifests_dir=0'; fi
    rdglob /etc/kubernetes/manifests/*.yaml /etc/kubernetes/manifests/*.yml \
        /etc/kubernetes/manifests/*.json
    rd /var/lib/kubelet/config.yaml

    sec kubelet
    for kp_d in /proc/[0-9]*; do
        kp_c=
        { read -r kp_c <"$kp_d/comm"; } 2>/dev/null
        if [ "$kp_c" = kubelet ]; then
            if have tr && [ -r "$kp_d/cmdline" ]; then
                printf '@@kaudit:cmd kubelet-cmdline rc=0\n'
                tr '\000' '\n' <"$kp_d/cmdline" 2>/dev/null | kp_escape
                printf '\n'
            fi
            break
        fi
    done
    rdglob /var/lib/kubelet/kubeadm-flags.env /etc/sysconfig/kubelet /etc/default/kubelet \
        /usr/lib/systemd/system/kubelet.service.d/*.conf \
        /etc/systemd/system/kubelet.service.d/*.conf

    sec scheduler-config
    kp_sc=
    if [ -r /etc/kubernetes/manifests/kube-scheduler.yaml ]; then
        while IFS= read -r kp_l || [ -n "$kp_l" ]; do
            case $kp_l in
                *--config=*) kp_sc=${kp_l#*--config=}; kp_sc=${kp_sc%%[\"\' ]*}; break ;;
            esac
        done </etc/kubernetes/manifests/kube-scheduler.yaml
    fi
    case $kp_sc in
        /*) rd "$kp_sc" ;;
    esac

    sec versions
    cmd kubelet 2 kubelet --version
    cmd kubeadm 2 kubeadm version -o short
    cmd kubectl 2 kubectl version --client
    cmd containerd 2 containerd --version
    cmd runc 2 runc --version
    cmd haproxy 2 haproxy -v
    cmd keepalived 2 keepalived -v

    sec packages
    if have rpm; then
        cmd rpm 8 rpm -qa --qf '%{NAME}\n'
    elif have dpkg-query; then
        cmd dpkg 5 dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n'
    fi

    sec commands
    for kp_c in ipvsadm ipset conntrack socat ntpdate ntpsec-ntpdate chronyc ntpd haproxy \
        keepalived kubelet kubeadm kubectl containerd runc crictl ctr ip ping nc ncat curl \
        bash timeout systemctl getenforce rpm dpkg-query head sed tr readlink df date; do
        have "$kp_c" && printf '%s\n' "$kp_c"
    done

    sec containerd
    rdred /etc/containerd/config.toml

    sec haproxy
    rdred /etc/haproxy/haproxy.cfg
    if [ -f /etc/haproxy/haproxy.cfg ]; then
        cmd haproxy-check 3 haproxy -c -f /etc/haproxy/haproxy.cfg
    fi

    sec keepalived
    rdred /etc/keepalived/keepalived.conf

    sec certs
    # Certificates only: rdcerts and rdkubecerts never print a private key.
    for kp_f in /etc/kubernetes/pki/*.crt /etc/kubernetes/pki/etcd/*.crt \
        /var/lib/kubelet/pki/kubelet-client-current.pem /var/lib/kubelet/pki/kubelet.crt; do
        rdcerts "$kp_f"
    done
    for kp_f in admin super-admin controller-manager scheduler kubelet; do
        rdkubecerts "/etc/kubernetes/$kp_f.conf"
    done

    sec etcd-metrics
    # The address kubeadm gives etcd for metrics (http://127.0.0.1:2381), from its
    # manifest; only the few families the health rules read leave the host.
    rdflag /etc/kubernetes/manifests/etcd.yaml listen-metrics-urls
    kp_mu=${kp_fv%%,*}
    printf 'url=%s\n' "$kp_mu"
    case $kp_mu in
        http://*)
            cmd metrics 5 sh -c 'curl -sS --max-time 4 "$1/metrics" | grep -E "^etcd_(mvcc_db_total_size(_in_use)?_in_bytes|server_quota_backend_bytes|server_has_leader|server_leader_changes_seen_total|disk_wal_fsync_duration_seconds_(bucket|count|sum)|disk_backend_commit_duration_seconds_(bucket|count|sum)|server_version)[ {]"' sh "$kp_mu" ;;
    esac

    sec health
    # key=value lines first: they precede the framed blocks.
    kp_sp=
    if [ -f /etc/kubernetes/manifests/kube-apiserver.yaml ]; then
        rdflag /etc/kubernetes/manifests/kube-apiserver.yaml secure-port
        kp_sp=${kp_fv:-6443}
        printf 'apiserver_port=%s\n' "$kp_sp"
    fi
    kp_kl=0
    if [ -f /var/lib/kubelet/config.yaml ] || have kubelet; then
        kp_kl=1
        printf 'kubelet=1\n'
    fi
    if [ -n "$kp_sp" ]; then
        cmd apiserver-livez 4 curl -sk --max-time 3 -w '\nhttp_code=%{http_code}\n' \
            "https://127.0.0.1:$kp_sp/livez"
    fi
    if [ "$kp_kl" = 1 ]; then
        cmd kubelet-healthz 4 curl -s --max-time 3 -w '\nhttp_code=%{http_code}\n' \
            http://127.0.0.1:10248/healthz
    fi

    sec disks
    for kp_p in / /var/lib/etcd /var/lib/kubelet /var/lib/containerd /data; do
        [ -e "$kp_p" ] || continue
        cmd "df $kp_p" 3 df -Pk -- "$kp_p/"
        cmd "dfi $kp_p" 3 df -Pi -- "$kp_p/"
    done

    sec done
    kp_e=$(date +%s.%N 2>/dev/null </dev/null)
    case $kp_e in ''|*[!0-9.]*|.*|*.) kp_e=$(date +%s 2>/dev/null </dev/null) ;; esac
    printf 'epoch_end=%s\n' "$kp_e"
    printf 'heads_missed=%s\n' "$kp_miss"
    printf '@@kaudit:end 0\n'
}

# Commands must never read the rest of this script from stdin.
# Everything after the first line goes out through dd, which assembles its
# output into blocks of up to 1 MiB: a few large writes (SSH packets) instead of
# one per printf, which the collector has to receive one by one. The first line
# was written above, at once: its arrival time measures the clock offset. A dd
# that cannot block its output (busybox without ibs/obs) or no dd at all: the
# output goes out as it is printed.
KP_BLOCK=1048576
if have dd && [ "$(printf 'a\nb' | dd obs="$KP_BLOCK" 2>/dev/null)" = "$(printf 'a\nb')" ]; then
    main "$@" </dev/null | dd obs="$KP_BLOCK" 2>/dev/null
else
    main "$@" </dev/null
fi
