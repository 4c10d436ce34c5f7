"""`rkt fetch` of remote images through the real CLI against a real HTTPS server on loopback."""

from __future__ import annotations

import pytest

from tests.fetch.util import discovery_page, image_path, publish, trust
from tests.helpers.aci import image_id, manifest
from tests.helpers.https import serve_bytes

pytestmark = pytest.mark.root


def _tar_id(aci) -> str:
    import gzip

    return image_id(gzip.decompress(aci.read_bytes()))


def test_fetch_by_name_with_discovery(rkt, server, ca_env, gpg_key, tmp_path):
    pub = publish(server, tmp_path, "localhost/app", key=gpg_key)
    trust(rkt, gpg_key, "localhost/app")
    out = rkt("--debug", "fetch", "--full", "localhost/app:1.0.0", env=ca_env)
    assert out.stdout.strip() == _tar_id(pub["aci"])
    assert ('image: remote fetching from URL "https://localhost/images/localhost/app-1.0.0-linux-amd64.aci"'
            in out.stderr)
    paths = [e[1] for e in server.log]
    assert paths == ["/app?ac-discovery=1", pub["asc_route"], pub["aci_route"]]
    # stored: run-path lookups need no network
    assert rkt("image", "list").stdout.count("localhost/app") == 1


def test_untrusted_signer_never_downloads_the_image(rkt, server, ca_env, gpg_key, other_gpg_key, tmp_path):
    pub = publish(server, tmp_path, "localhost/app", key=other_gpg_key)
    trust(rkt, gpg_key, "localhost/app")
    err = rkt.fails("fetch", "localhost/app:1.0.0", env=ca_env).stderr
    assert other_gpg_key.fingerprint.upper() in err and "rkt trust --prefix localhost/app" in err
    assert len(err.strip().splitlines()) == 1
    assert not server.requested(pub["aci_route"])
    assert rkt("image", "list", "--no-legend").stdout.strip() == ""


def test_parent_prefix_meta_tags_and_label_templates(rkt, server, ca_env, gpg_key, tmp_path):
    template = "https://localhost/images/{name}-{version}-{os}-{arch}.{ext}"
    pub = publish(server, tmp_path, "localhost/org/tool", version="2.1", key=gpg_key, page=False)
    # /localhost/org/tool has no page (404): the walk goes up to /localhost/org, whose tag is
    # for the parent prefix localhost/org.
    server.routes["/org"] = serve_bytes(discovery_page("localhost/org", template))
    trust(rkt, gpg_key, "localhost/org")
    rkt("fetch", "localhost/org/tool,version=2.1", env=ca_env)
    assert [e[1] for e in server.log][:2] == ["/org/tool?ac-discovery=1", "/org?ac-discovery=1"]
    assert server.requested(pub["aci_route"])


def test_discovery_failure_lists_urls(rkt, server, ca_env):
    err = rkt.fails("fetch", "localhost/nothing/here", env=ca_env).stderr
    for url in ("https://localhost/nothing/here?ac-discovery=1", "https://localhost/nothing?ac-discovery=1",
                "https://localhost?ac-discovery=1"):
        assert url in err
    assert "HTTP 404" in err and len(err.strip().splitlines()) == 1


def test_label_mismatch_names_the_label(rkt, server, ca_env, gpg_key, tmp_path):
    # The server serves a 1.0.0 image at the 2.0 URL.
    pub = publish(server, tmp_path, "localhost/app", version="1.0.0", key=gpg_key)
    server.routes[image_path("localhost/app", "2.0")] = server.routes[pub["aci_route"]]
    server.routes[image_path("localhost/app", "2.0", ext="aci.asc")] = server.routes[pub["asc_route"]]
    trust(rkt, gpg_key, "localhost/app")
    err = rkt.fails("fetch", "localhost/app:2.0", env=ca_env).stderr
    assert "label 'version' is '1.0.0', not the requested '2.0'" in err
    assert rkt("image", "list", "--no-legend").stdout.strip() == ""


def test_deferred_signature(rkt, server, ca_env, gpg_key, tmp_path):
    pub = publish(server, tmp_path, "localhost/app", key=gpg_key)
    real = server.routes[pub["asc_route"]]
    calls = []

    def deferred(req):
        calls.append(1)
        if len(calls) == 1:
            req.send(202, b"")
        else:
            real(req)
    server.routes[pub["asc_route"]] = deferred
    trust(rkt, gpg_key, "localhost/app")
    rkt("fetch", "localhost/app:1.0.0", env=ca_env)
    assert [e[1] for e in server.log][1:] == [pub["asc_route"], pub["aci_route"], pub["asc_route"]]


def test_https_url_fetch_and_etag_304(rkt, server, ca_env, gpg_key, tmp_path):
    pub = publish(server, tmp_path, "localhost/app", key=gpg_key, page=False)
    trust(rkt, gpg_key, "localhost/app")
    url = server.url(pub["aci_route"])
    first = rkt("fetch", url, env=ca_env).stdout
    assert server.requested(pub["asc_route"])
    second = rkt("fetch", url, env=ca_env).stdout  # update: asks again, gets a 304
    assert first == second
    last = server.log[-1]
    assert last[1] == pub["aci_route"] and last[2]["if-none-match"] == '"v1"'
    n = len(server.log)
    rkt("fetch", "--pull-policy=new", url, env=ca_env)  # new: stored, no request at all
    assert len(server.log) == n


def test_max_age_skips_the_request(rkt, server, ca_env, gpg_key, tmp_path):
    pub = publish(server, tmp_path, "localhost/app", key=gpg_key, max_age=3600, page=False)
    trust(rkt, gpg_key, "localhost/app")
    url = server.url(pub["aci_route"])
    rkt("fetch", url, env=ca_env)
    n = len(server.requested(pub["aci_route"]))
    rkt("fetch", url, env=ca_env)
    assert len(server.requested(pub["aci_route"])) == n


def test_plain_http_needs_insecure_option(rkt, server, ca_env):
    err = rkt.fails("fetch", "http://localhost/x.aci", env=ca_env).stderr
    assert "--insecure-options=http" in err


def test_tls_failure_is_one_line(rkt, server, gpg_key, tmp_path):
    import os

    pub = publish(server, tmp_path, "localhost/app", key=gpg_key)
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
                                                            "CURL_CA_BUNDLE", "SSL_CERT_DIR")}
    err = rkt.fails("fetch", server.url(pub["aci_route"]), env=env).stderr
    assert "TLS failure" in err and len(err.strip().splitlines()) == 1
    rkt("--insecure-options=tls,image", "fetch", server.url(pub["aci_route"]), env=env)
    trust(rkt, gpg_key, "localhost/app")  # signatures still checked: rkt 1.30's warning
    out = rkt("--insecure-options=tls", "fetch", "--pull-policy=update",
              server.url(pub["aci_route"]), env=env)
    assert out.stderr.startswith("image: warning: TLS verification has been disabled\n")


def test_dependency_fetched_by_name(rkt, server, ca_env, gpg_key, tmp_path):
    base = publish(server, tmp_path, "localhost/base", version="1", key=gpg_key,
                   files={"etc/base": b"base\n"})
    app_manifest = manifest("localhost/app", "1.0.0",
                            dependencies=[{"imageName": "localhost/base",
                                           "labels": [{"name": "version", "value": "1"}]}])
    publish(server, tmp_path, "localhost/app", key=gpg_key, manifest_obj=app_manifest)
    trust(rkt, gpg_key, "localhost")
    rkt("fetch", "localhost/app:1.0.0", env=ca_env)
    assert server.requested(base["aci_route"])
    listing = rkt("image", "list", "--no-legend").stdout
    assert "localhost/base" in listing and "localhost/app" in listing


def _app_depending_on(server, tmp_path, gpg_key, dep: dict):
    app_manifest = manifest("localhost/app", "1.0.0", dependencies=[dep])
    publish(server, tmp_path, "localhost/app", key=gpg_key, manifest_obj=app_manifest)
    return app_manifest


def test_dependency_pinned_id_must_match(rkt, server, ca_env, gpg_key, tmp_path):
    publish(server, tmp_path, "localhost/base", version="1", key=gpg_key)
    wrong = "sha512-" + "0" * 128
    _app_depending_on(server, tmp_path, gpg_key, {"imageName": "localhost/base", "imageID": wrong,
                                                  "labels": [{"name": "version", "value": "1"}]})
    trust(rkt, gpg_key, "localhost")
    err = rkt.fails("fetch", "localhost/app:1.0.0", env=ca_env).stderr
    assert "dependency localhost/base of localhost/app" in err and "not the pinned" in err
    assert rkt("image", "list", "--no-legend").stdout.strip() == ""


def test_dependency_size_overrun(rkt, server, ca_env, gpg_key, tmp_path):
    publish(server, tmp_path, "localhost/base", version="1", key=gpg_key,
            files={"big": b"x" * 100_000})
    _app_depending_on(server, tmp_path, gpg_key, {"imageName": "localhost/base", "size": 20_000,
                                                  "labels": [{"name": "version", "value": "1"}]})
    trust(rkt, gpg_key, "localhost")
    err = rkt.fails("fetch", "localhost/app:1.0.0", env=ca_env).stderr
    assert "dependency localhost/base of localhost/app" in err and "20000" in err
    assert len(err.strip().splitlines()) == 1
    assert rkt("image", "list", "--no-legend").stdout.strip() == ""


def test_dependency_render_and_progress_bar_on_a_tty(rkt, server, ca_env, gpg_key, tmp_path):
    from tests.helpers.tty import run_on_tty

    base = publish(server, tmp_path, "localhost/base", version="1", key=gpg_key,
                   files={"etc/base": b"base\n"})
    _app_depending_on(server, tmp_path, gpg_key, {"imageName": "localhost/base",
                                                  "labels": [{"name": "version", "value": "1"}]})
    trust(rkt, gpg_key, "localhost")
    code, shown = run_on_tty(rkt.cmd("fetch", "localhost/app:1.0.0"), env=ca_env, timeout=120)
    assert code == 0, shown
    assert b"Downloading ACI: [" in shown and b"B/s" in shown
    assert server.requested(base["aci_route"])
    # fetched with its dependency, and rendered: the tree has both layers' files
    trees = list((rkt.dir / "cas" / "tree").glob("deps-*/rootfs"))
    assert any((t / "etc" / "base").exists() and (t / "etc" / "hello").exists() for t in trees)
    quiet = rkt("fetch", "localhost/app:1.0.0", env=ca_env)
    assert "Downloading" not in quiet.stderr


def test_local_file_dependency_fetched_by_discovery(rkt, server, ca_env, gpg_key, tmp_path):
    from tests.helpers.aci import make_aci

    base = publish(server, tmp_path, "localhost/base", version="1", key=gpg_key,
                   files={"etc/base": b"base\n"})
    app = tmp_path / "app.aci"
    make_aci(app, manifest("localhost/app", "1.0.0", dependencies=[
        {"imageName": "localhost/base", "labels": [{"name": "version", "value": "1"}]}]))
    gpg_key.sign(app)
    trust(rkt, gpg_key, "localhost")
    err = rkt.fails("fetch", "--pull-policy=never", app, env=ca_env).stderr
    assert "not in the store" in err and not server.log
    rkt("fetch", app, env=ca_env)
    assert server.requested(base["aci_route"])
    assert "localhost/base" in rkt("image", "list", "--no-legend").stdout


def test_url_fetch_untrusted_signer_never_downloads_the_image(rkt, server, ca_env, gpg_key,
                                                              other_gpg_key, tmp_path):
    pub = publish(server, tmp_path, "localhost/app", key=other_gpg_key, page=False)
    trust(rkt, gpg_key, "localhost/app")
    err = rkt.fails("fetch", server.url(pub["aci_route"]), env=ca_env).stderr
    assert other_gpg_key.fingerprint.upper() in err and "rkt trust --prefix" in err
    assert not server.requested(pub["aci_route"])
    # A key trusted for another prefix passes the early check; gpg's check against the
    # image's own name then refuses it, and nothing is stored.
    trust(rkt, other_gpg_key, "localhost/other")
    err = rkt.fails("fetch", server.url(pub["aci_route"]), env=ca_env).stderr
    assert "localhost/app" in err and len(err.strip().splitlines()) == 1
    assert rkt("image", "list", "--no-legend").stdout.strip() == ""


def test_local_signature_for_a_remote_image(rkt, server, ca_env, gpg_key, tmp_path):
    pub = publish(server, tmp_path, "localhost/app", key=gpg_key, page=False)
    asc = tmp_path / "local.asc"
    asc.write_bytes(gpg_key.sign(pub["aci"]).read_bytes())
    del server.routes[pub["asc_route"]]
    trust(rkt, gpg_key, "localhost/app")
    rkt("fetch", f"--signature={asc}", server.url(pub["aci_route"]), env=ca_env)
    assert not server.requested(pub["asc_route"])


def test_local_signature_for_a_remote_image_is_capped(rkt, server, ca_env, gpg_key, tmp_path):
    pub = publish(server, tmp_path, "localhost/app", key=gpg_key, page=False)
    huge = tmp_path / "huge.asc"
    huge.write_bytes(b"\0" * ((1 << 20) + 1))
    trust(rkt, gpg_key, "localhost/app")
    err = rkt.fails("fetch", f"--signature={huge}", server.url(pub["aci_route"]), env=ca_env).stderr
    assert f"signature file {huge}: larger than 1048576 bytes" in err
    assert not server.requested(pub["aci_route"])


def test_url_fetch_checks_the_signature_while_downloading(rkt, server, ca_env, gpg_key, tmp_path):
    pub = publish(server, tmp_path, "localhost/app", key=gpg_key, page=False)
    trust(rkt, gpg_key, "localhost/app")
    out = rkt("--debug", "fetch", server.url(pub["aci_route"]), env=ca_env)
    assert "localhost/app: checking the signature while downloading" in out.stderr
    assert "checking the signature of the downloaded file" not in out.stderr
    # A body the signature does not cover is still refused, and not stored.
    other = publish(server, tmp_path, "localhost/app", "2.0.0", page=False)
    server.routes[other["asc_route"]] = server.routes[pub["asc_route"]]
    bad = rkt("fetch", server.url(other["aci_route"]), env=ca_env, check=False)
    assert bad.returncode == 254 and len(bad.stderr.strip().splitlines()) == 1
    assert "bad signature" in bad.stderr
    assert rkt("image", "list", "--no-legend").stdout.count("localhost/app") == 1


def test_concurrent_fetches_of_one_url_download_once(rkt, server, ca_env, gpg_key, tmp_path):
    import threading
    import time

    pub = publish(server, tmp_path, "localhost/app", key=gpg_key, page=False)
    real = server.routes[pub["aci_route"]]

    def slow(req):
        time.sleep(1.5)  # both fetches are past the signature before the first body ends
        real(req)
    server.routes[pub["aci_route"]] = slow
    trust(rkt, gpg_key, "localhost/app")
    url = server.url(pub["aci_route"])
    outs = []
    threads = [threading.Thread(target=lambda: outs.append(rkt("fetch", url, env=ca_env).stdout))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outs) == 2 and outs[0] == outs[1]
    assert [e[1] for e in server.log].count(pub["aci_route"]) == 1
