"""Secrets planted in every place a user keeps them never show up in any
report, fact file, log line (-vv) or error message."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from .conftest import Fleet, run_kaudit


@pytest.mark.sshd
def test_planted_secrets_never_leave(fleet: Fleet, sshd_factory, ssh_env) -> None:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:12]
    password = f"pw-{tag}-Sx"
    become = f"become-{tag}-Sx"
    ssh_pass = f"sshpass-{tag}-Sx"
    passphrase = f"phrase-{tag}-Sx"
    vault = f"vault-{tag}-Sx"
    enc = fleet.dir / "id_enc"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "",
                    "-f", str(enc)], check=True)
    (fleet.dir / "passphrase.txt").write_text(passphrase + "\n")
    # Distinctive pieces of both private keys' bytes (base64 body lines).
    key_bits = [line for k in (enc, ssh_env.key) for line in k.read_text().splitlines()[1:-1]
                if len(line) > 20]
    secrets = [password, become, ssh_pass, passphrase, vault, *key_bits]

    server = sshd_factory("127.0.0.50")
    fleet.trust(server)
    port = server.port
    inv = fleet.dir / "hosts.txt"
    inv.write_text(
        "[masters]\n"
        f"ok1 ansible_host=127.0.0.50 ansible_port={port} ansible_become_password={become}\n"
        # Password auth is off on the server: the password is tried and refused.
        f"pw ansible_host=127.0.0.50 ansible_port={port} ansible_password={password} "
        f"ansible_ssh_private_key_file={ssh_env.wrong_key}\n"
        f"enc ansible_host=127.0.0.50 ansible_port={port} ansible_ssh_pass={ssh_pass} "
        f"ansible_ssh_private_key_file={enc} "
        f"ansible_ssh_private_key_passphrase={passphrase}\n"
        "[all:vars]\n"
        f"ansible_become_pass={become}\nvault_password={vault}\n")
    outs = {f: fleet.dir / f"r.{f}" for f in ("json", "xml", "html", "prom")}
    scan = run_kaudit(*fleet.args(inv, "-r", f"json:{outs['json']}", "-r", f"junit:{outs['xml']}",
                                  "-r", f"html:{outs['html']}", "-r", f"prometheus:{outs['prom']}",
                                  "-r", "terminal", "--save-facts", fleet.dir / "facts.json",
                                  "-vv", "--var", "lb_port=16443", timeout=60),
                      cwd=fleet.dir)
    assert scan.returncode == 3, scan.stderr
    collect = run_kaudit("collect", inv, "-o", fleet.dir / "collected.json", "-u", fleet.user,
                         "-i", fleet.key, "--known-hosts", fleet.known_hosts, "--ssh-config",
                         fleet.ssh_config, "--no-progress", cwd=fleet.dir, timeout=60)
    assert collect.returncode == 3
    shows = [run_kaudit("inventory", "show", inv, "--format", f, cwd=fleet.dir)
             for f in ("json", "table")]
    assert all(s.returncode == 0 for s in shows)
    # A line holding a secret that does not parse must not echo it either.
    broken = fleet.dir / "broken.txt"
    broken.write_text(f"[masters]\nm01 ansible_password {password}\n")
    bad = run_kaudit("inventory", "show", broken, cwd=fleet.dir)
    assert bad.returncode == 2

    texts = {"scan stdout": scan.stdout, "scan stderr": scan.stderr,
             "collect stderr": collect.stderr, "collect stdout": collect.stdout,
             "bad stderr": bad.stderr,
             **{f"show {i}": s.stdout + s.stderr for i, s in enumerate(shows)},
             **{p.name: p.read_bytes() for p in (*outs.values(), fleet.dir / "facts.json",
                                                 fleet.dir / "collected.json")}}
    for where, data in texts.items():
        for s in secrets:
            assert s.encode() not in data, f"secret {s[:12]}... leaked into {where}"
    # And the scan still did its job: the good host ran, the others say why not.
    report = (fleet.dir / "r.json").read_text()
    assert '"name": "ok1"' in report and '"auth_failed"' in report
    assert b"ok1" in scan.stdout and b"encrypted" in scan.stderr + outs["json"].read_bytes()
