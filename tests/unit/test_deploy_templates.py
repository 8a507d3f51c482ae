"""Configuration templates: rendering, host overrides, missing keys, the dry run's diff, and the
shell steps that write and restore a release's config files (run with the real ``sh``)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cmdb import Entry
from deployer.artifact import build_artifact
from deployer.config import HostSpec
from deployer.config_files import parse_config, read_config, restore_config, write_config
from deployer.config_values import by_name, host_values, values_prefix
from deployer.templates import Renderer, TemplateProblem, Templates, unified_diff
from order_service.sample_release import write_sample_release

WEB1 = HostSpec("web1", "10.0.0.11", "/srv/shop", env={"APP_PORT": "8000"})
WEB2 = HostSpec("web2", "10.0.0.12", "/srv/shop")
SHARED = "production/shop/config"


def entries(**values: tuple[int, object]) -> list[Entry]:
    return [Entry(f"{SHARED}/{name}", value, version) for name, (version, value) in values.items()]


def renderer(shared: list[Entry], overrides: dict[str, list[Entry]] | None = None) -> Renderer:
    def load():
        common = by_name(SHARED, shared)
        return {host: host_values(common, by_name(values_prefix("production", "shop", host), own))
                for host, own in {"web1": [], "web2": [], **(overrides or {})}.items()}
    return Renderer("production", "shop", load)


def sh(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)


def test_renders_cmdb_values_and_the_deployers_facts():
    templates = Templates({"app.ini.j2": "[db]\nurl = {{ db_url }}\nport = {{ db.port }}\n"
                                         "host = {{ oam.host }} {{ oam.address }} {{ oam.env.APP_PORT }}\n"
                                         "where = {{ oam.environment }}/{{ oam.service }}@{{ oam.version }}\n"})
    rendered = renderer(entries(db_url=(3, "postgres://db1/shop"), db=(1, {"port": 5432}),
                                unused=(9, "x"))).render(templates, WEB1, "1.4.0")
    assert rendered.files == {"app.ini": "[db]\nurl = postgres://db1/shop\nport = 5432\n"
                                         "host = web1 10.0.0.11 8000\nwhere = production/shop@1.4.0\n"}
    assert rendered.keys == {f"{SHARED}/db": 1, f"{SHARED}/db_url": 3}  # only the keys the templates read


def test_a_host_override_wins_over_the_environments_value():
    templates = Templates({"app.ini.j2": "workers = {{ workers }}\nurl = {{ db_url }}\n"})
    override = Entry("production/shop/hosts/web2/config/workers", 16, 4)
    render = renderer(entries(workers=(2, 4), db_url=(1, "db1")), {"web2": [override]})
    assert render.render(templates, WEB1, "1").files == {"app.ini": "workers = 4\nurl = db1\n"}
    on_web2 = render.render(templates, WEB2, "1")
    assert on_web2.files == {"app.ini": "workers = 16\nurl = db1\n"}
    assert on_web2.keys == {f"{SHARED}/db_url": 1, "production/shop/hosts/web2/config/workers": 4}


def test_only_names_right_below_the_prefix_are_variables():
    found = by_name(SHARED, [Entry(f"{SHARED}/a", 1, 1), Entry(f"{SHARED}/deep/b", 2, 1),
                             Entry("production/shop/configx/c", 3, 1)])
    assert list(found) == ["a"]


def test_a_missing_key_is_one_line_naming_the_key_and_the_template():
    templates = Templates({"a.conf.j2": "ok = {{ present }}\n", "b.conf.j2": "x = {{ present }} {{ absent }}\n"})
    with pytest.raises(TemplateProblem) as caught:
        renderer(entries(present=(1, "yes"))).render(templates, WEB2, "1")
    assert str(caught.value) == ("config/b.conf.j2: CMDB key production/shop/config/absent is missing (and host web2 "
                                 "has no override production/shop/hosts/web2/config/absent)")


def test_optional_keys_and_other_template_errors():
    optional = Templates({"a.j2": "{{ level | default('info') }}{% if extra is defined %} {{ extra }}{% endif %}\n"})
    assert renderer([]).render(optional, WEB1, "1").files == {"a": "info\n"}
    assert renderer(entries(extra=(1, "more"))).render(optional, WEB1, "1").files == {"a": "info more\n"}
    with pytest.raises(TemplateProblem, match=r"^config/bad.j2 line 2: unexpected end of template"):
        Templates({"bad.j2": "fine\n{{ oops \n"}).names()
    with pytest.raises(TemplateProblem, match=r"^config/attr.j2 for host web1: 'dict object' has no attribute "
                                              r"'port'$"):
        renderer(entries(db=(1, {}))).render(Templates({"attr.j2": "{{ db.port }}"}), WEB1, "1")


def test_templates_come_from_the_release_tarball(tmp_path):
    source = write_sample_release(tmp_path / "src", "2.0.0")
    (source / "config" / "notes.txt").write_text("not a template")
    (source / "config" / "nested").mkdir()
    (source / "config" / "nested" / "deep.j2").write_text("{{ deep }}")
    templates = Templates.from_artifact(build_artifact(source, "2.0.0", tmp_path / "out").path)
    assert list(templates.sources) == ["settings.json.j2"]
    rendered = renderer(entries(order_delay_ms=(5, 7))).render(templates, WEB2, "2.0.0")
    assert json.loads(rendered.files["settings.json"]) == {"environment": "production", "host": "web2",
                                                           "greeting": "hello", "order_delay_ms": 7}


def test_diff_of_current_files_against_rendered_ones():
    current = {"app.ini": "a = 1\nb = 2\n", "same.conf": "x\n"}
    rendered = {"app.ini": "a = 1\nb = 3\n", "same.conf": "x\n", "new.conf": "fresh"}
    assert unified_diff("web1", current, rendered) == (  # by file name; unchanged files left out
        "--- web1:config/app.ini\n+++ web1:config/app.ini (rendered)\n@@ -1,2 +1,2 @@\n a = 1\n-b = 2\n+b = 3\n"
        "--- /dev/null\n+++ web1:config/new.conf (rendered)\n@@ -0,0 +1 @@\n+fresh\n\\ No newline at end of file\n")
    assert unified_diff("web1", current, {"same.conf": "x\n"}) == ""


def test_write_keep_and_restore_config_files(tmp_path):
    release = str(tmp_path / "releases" / "v 1")  # a space must not break the quoting
    Path(release, "config").mkdir(parents=True)
    Path(release, "config", "app.ini.j2").write_text("{{ x }}")
    Path(release, "config", "app.ini").write_text("old\n")
    out = sh(read_config(release))
    assert out.returncode == 0, out.stderr
    assert parse_config(out.stdout) == ({"app.ini.j2": "{{ x }}"}, {"app.ini": "old\n"})
    text = "new 'quoted' $HOME `x` ünïcode\n"
    out = sh(write_config(release, {"app.ini": text, "added.conf": "fresh\n"}, keep_previous=True))
    assert out.returncode == 0, out.stderr
    assert Path(release, "config", "app.ini").read_text() == text
    assert Path(release, "config", "added.conf").read_text() == "fresh\n"
    out = sh(restore_config(release, ["added.conf", "app.ini"]))
    assert out.returncode == 0, out.stderr
    assert Path(release, "config", "app.ini").read_text() == "old\n"
    assert not Path(release, "config", "added.conf").exists()  # it did not exist before
    assert sorted(p.name for p in Path(release, "config").iterdir()) == ["app.ini", "app.ini.j2"]


def test_restore_changes_nothing_when_the_write_kept_nothing(tmp_path):
    release = str(tmp_path / "v1")
    Path(release, "config").mkdir(parents=True)
    Path(release, "config", "app.ini").write_text("live\n")
    assert sh(restore_config(release, ["app.ini"])).returncode == 0
    assert Path(release, "config", "app.ini").read_text() == "live\n"
    assert sh(read_config(str(tmp_path / "absent"))).stdout == ""
